"""Named ports: a port that stays the same for one (app, worktree, service) across restarts.

The deciding half of :meth:`PortManager.ensure` and its relatives, without I/O: both doors run
:func:`ensure_ports` inside a registry transaction (it is a generator of steps,
``_steps.py``), after :func:`plan` has turned the arguments and the project into
:class:`Want`\\ s.

A new key starts its search at a port derived from a stable hash of the key, so that one key
tends to land on the same port again after ``aioports cleanup`` or on another machine, and
keys of one app spread over the range instead of crowding its start. The hash covers the
worktree's folder name, not its path: the same checkout cloned to another home folder hashes
alike.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import _checks, _records
from ._allocation import json_object, owner_fields, owner_of
from ._entries import MAX_KEY_PART, Entries, is_key_part
from ._errors import ArgumentTypeError, InvalidArgumentError, shown
from ._models import (
    Allocation,
    PortKey,
    PortRange,
    PortStatus,
    ProcessIdentity,
    RangeLike,
    validate_port,
)
from ._probe import BindProber
from ._search import find_free_ports
from ._steps import Blocking, Steps

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._project import Project

__all__ = (
    "DEFAULT_SERVICE",
    "Call",
    "EnsuredPort",
    "Request",
    "Selection",
    "Want",
    "ensure_ports",
    "env_name",
    "key_part",
    "plan",
    "prepare",
    "release_matching",
    "selection",
    "start_port",
)

#: the service of a project without a manifest
DEFAULT_SERVICE = "default"

# FNV-1a, 64 bits: stable across runs, machines and Python versions (``hash()`` is salted
# per process), and a few lines instead of importing hashlib on every start.
_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
_MASK = (1 << 64) - 1


def start_port(key: PortKey, span: PortRange) -> int:
    """Where the search for a new key's port begins: a port of ``span`` fixed by the key."""
    text = "\0".join((key.app, Path(key.worktree).name, key.service))
    value = _FNV_OFFSET
    for byte in text.encode("utf-8", "surrogatepass"):
        value = ((value ^ byte) * _FNV_PRIME) & _MASK
    return span.start + value % len(span)


def key_part(argument: str, value: object) -> str:
    """``value`` if it can be part of a port's key: text that is not empty, has no control
    characters and no spaces around it.

    :raises ArgumentTypeError: for anything but a string.
    :raises InvalidArgumentError: for an unusable string.
    """
    if not isinstance(value, str):
        raise ArgumentTypeError(argument, value, f"{argument} must be text, got {shown(value)}")
    if not is_key_part(value):
        if not value.strip():
            reason = "is empty"
        elif len(value) > MAX_KEY_PART:
            reason = f"is longer than {MAX_KEY_PART} characters"
        elif value.strip() != value:
            reason = "has spaces around it"
        else:
            reason = "has control characters"
        raise InvalidArgumentError(argument, value, f"{argument} {shown(value)} {reason}")
    return value


def env_name(service: str) -> str:
    """The environment variable a service's port goes in when no manifest names one:
    ``PORT`` for the default service, else the manifest's default (``API_PORT``), with a
    ``_`` before a leading digit so that a shell can take it."""
    from ._manifest import default_env

    if service == DEFAULT_SERVICE:
        return "PORT"
    name = default_env(service)
    return f"_{name}" if name[0].isdigit() else name


@_records.record
class Want:
    """One named port asked for.

    :ivar key: its key
    :ivar span: where a new port is searched for
    :ivar preferred: the port to take when it is free and unallocated, else None
    :ivar metadata: the JSON object stored with a new entry
    :ivar env: the environment variable the port goes in
    """

    key: PortKey
    span: PortRange
    preferred: int | None
    metadata: dict[str, Any]
    env: str


@_records.record
class EnsuredPort(_records.Record):
    """A named port, as :meth:`PortManager.ensure_services` found or made it.

    :ivar allocation: its registry entry
    :ivar created: True when this call recorded it, False when it was recorded before
    :ivar env: the environment variable it goes in (``PORT``, ``API_PORT``, the manifest's)
    """

    allocation: Allocation
    created: bool
    env: str

    @property
    def port(self) -> int:
        return self.allocation.port

    @property
    def service(self) -> str:
        return self.allocation.service or DEFAULT_SERVICE


def want(
    key: PortKey,
    span: PortRange,
    *,
    preferred: object = None,
    metadata: Mapping[str, Any] | None = None,
    env: str | None = None,
) -> Want:
    """A checked :class:`Want`.

    :raises InvalidPortError: when ``preferred`` is not a port.
    :raises InvalidMetadataError: when ``metadata`` is no JSON object.
    """
    port = None if preferred is None else validate_port(preferred)
    return Want(key, span, port, json_object(metadata), env or env_name(key.service))


def ensure_ports(
    entries: Entries,
    wants: Sequence[Want],
    prober: BindProber,
    hostname: str,
    *,
    skip: frozenset[int],
    owner: tuple[ProcessIdentity, str | None] | None = None,
) -> Steps[list[EnsuredPort]]:
    """The port of each want, recorded ones as they are, new ones found and added
    (inside a transaction: all of them or, on an error, none).

    :param skip: the ports an automatic choice never takes (``_hygiene.excluded_ports()``);
        a ``preferred`` port is honoured even there, as an explicit choice
    :param owner: the process (and its PID namespace) whose exit releases new entries
    :raises NoFreePortError: when a new key's range has no free port left.
    """
    found: list[EnsuredPort] = []
    now = datetime.now(UTC)
    for wanted in wants:
        recorded = entries.named(wanted.key)
        if recorded is not None:
            found.append(EnsuredPort(recorded, created=False, env=wanted.env))
            continue
        port = wanted.preferred
        if port is None or port in entries or prober.status(port) is not PortStatus.FREE:
            start = start_port(wanted.key, wanted.span)
            [port] = yield from find_free_ports(
                prober, wanted.span, 1, entries, skip=skip, start=start
            )
        identity, namespace = (None, None) if owner is None else owner
        allocation = Allocation(
            port=port,
            allocated_at=now,
            metadata=wanted.metadata,
            pid=os.getpid(),
            hostname=hostname,
            **owner_fields(identity, namespace),
            app=wanted.key.app,
            worktree=wanted.key.worktree,
            service=wanted.key.service,
        )
        entries.add(allocation)
        found.append(EnsuredPort(allocation, created=True, env=wanted.env))
    return found


def plan(
    call: Call, span: PortRange | None, default_range: Callable[[], PortRange]
) -> tuple[Project, list[Want]]:
    """The project and the wants of one ``ensure`` call: every argument checked, the
    defaults read from the project (a blocking step: it reads the manifest and ``.git``).

    ``call.services`` None means the manifest's first service (with ``call.every``: all of
    them), else ``default``; a service named twice is ensured once.

    :param span: the call's range, checked; None for the manifest's, else ``default_range()``
    :raises InvalidArgumentError, ArgumentTypeError: for bad arguments, a worktree folder
        that does not exist, or a service the manifest does not list.
    :raises ManifestError: for an unusable manifest.
    """
    from ._project import find_project

    services, preferred, every = call.services, call.preferred, call.every
    chosen_app = None if call.app is None else key_part("app", call.app)
    folder = None if call.worktree is None else _worktree_folder(call.worktree)
    project = find_project(folder)
    manifest = project.manifest
    listed = {} if manifest is None else {s.name: s for s in manifest.services}
    if services is None:
        names = list(listed)[: None if every else 1] or [DEFAULT_SERVICE]
    else:
        names = list(dict.fromkeys(key_part("service", name) for name in services))
        unknown = [name for name in names if listed and name not in listed]
        if unknown:
            assert manifest is not None
            raise InvalidArgumentError(
                "service",
                unknown[0],
                f"service {unknown[0]!r} is not in {manifest.path} (its services: "
                f"{', '.join(listed)})",
            )
    if preferred is not None and len(names) != 1:
        raise InvalidArgumentError(
            "preferred", preferred, "a preferred port goes with exactly one service"
        )
    if span is None:
        span = manifest.range if manifest is not None and manifest.range else default_range()
    extra = dict(call.metadata or {})
    if project.branch is not None:
        extra.setdefault("branch", project.branch)
    wants = []
    for name in names:
        service = listed.get(name)
        key = PortKey(chosen_app or project.app, project.worktree, name)
        wants.append(
            want(
                key,
                span,
                preferred=preferred
                if preferred is not None
                else getattr(service, "preferred", None),
                metadata=extra,
                env=None if service is None else service.env,
            )
        )
    return project, wants


def _worktree_folder(worktree: str | os.PathLike[str]) -> Path:
    if not isinstance(worktree, str | os.PathLike):
        message = f"worktree must be a folder path, got {shown(worktree)}"
        raise ArgumentTypeError("worktree", worktree, message)
    text = os.fspath(worktree)
    key_part("worktree", text)
    folder = Path(text).absolute()
    if not folder.is_dir():
        raise InvalidArgumentError(
            "worktree", text, f"worktree {text!r} is not a folder (it must be the checkout's path)"
        )
    return folder


@_records.record
class Request:
    """A checked ``ensure`` call, ready for its transaction.

    :ivar project: the project it was made in
    :ivar wants: the named ports asked for, in order
    :ivar owner: the process (and PID namespace) whose exit releases new entries, or None
    :ivar skip: the ports no new entry may take on its own
    """

    project: Project
    wants: list[Want]
    owner: tuple[ProcessIdentity, str | None] | None
    skip: frozenset[int]


@_records.record
class Call:
    """The arguments of one ``ensure`` call, as the caller gave them (see
    :meth:`PortManager.ensure`).

    :ivar services: the services asked for, or None for the project's
    :ivar every: with ``services`` None, every service of the manifest (else its first)
    """

    services: Sequence[str] | None
    app: str | None = None
    worktree: str | os.PathLike[str] | None = None
    preferred: object = None
    range: RangeLike | None = None
    metadata: Mapping[str, Any] | None = None
    owner_pid: int | None = None
    every: bool = False


def prepare(call: Call, default_range: Callable[[], PortRange]) -> Steps[Request]:
    """Check an ``ensure`` call and read its project; see :func:`plan`.

    :param default_range: the range when neither the call nor the manifest gives one
    :raises ProcessGoneError: when ``owner_pid`` names no process.
    """
    from ._hygiene import excluded_ports

    services = call.services
    span = None if call.range is None else PortRange.coerce(call.range)
    if services is not None and (isinstance(services, str) or not isinstance(services, Sequence)):
        message = f"services must be a list of service names, got {shown(services)}"
        raise ArgumentTypeError("services", services, message)
    project, wants = yield Blocking(plan, (call, span, default_range))
    owner = None
    if call.owner_pid is not None:
        owner = yield Blocking(owner_of, (_checks.owner_pid(call.owner_pid),))
    return Request(project, wants, owner, excluded_ports())


@_records.record
class Selection(_records.Record):
    """Which allocations an ``--app``/``--worktree``/``--service`` filter picks (None: any)."""

    app: str | None = None
    worktree: str | None = None
    service: str | None = None

    def __bool__(self) -> bool:
        return not (self.app is None and self.worktree is None and self.service is None)

    def picks(self, allocation: Allocation) -> bool:
        return allocation.matches(app=self.app, worktree=self.worktree, service=self.service)


def selection(
    app: object = None, worktree: object = None, service: object = None, *, required: bool
) -> Selection:
    """A checked :class:`Selection`.

    :param required: at least one part must be given (releasing "everything" is
        ``cleanup()``, which says so)
    :raises InvalidArgumentError, ArgumentTypeError: for a bad part, or none when required.
    """
    if isinstance(worktree, os.PathLike):
        worktree = os.fspath(worktree)
    parts = {"app": app, "worktree": worktree, "service": service}
    chosen = Selection(**{k: None if v is None else key_part(k, v) for k, v in parts.items()})
    if required and not chosen:
        raise InvalidArgumentError(
            "app", None, "name an app, a worktree or a service (cleanup() removes everything)"
        )
    return chosen


def release_matching(entries: Entries, chosen: Selection) -> list[int]:
    """Remove the entries ``chosen`` picks; returns their ports, ascending."""
    ports = [a.port for a in entries.allocations() if chosen.picks(a)]
    for port in ports:
        entries.pop(port)
    return ports
