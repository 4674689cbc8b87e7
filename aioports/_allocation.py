"""Recording new allocations: check what goes into the registry, then decide the ports.

Both halves are generators of steps (``_steps.py``), so the async ``PortManager`` and the
sync door run the very same code: :func:`prepare` checks the arguments before the registry
is touched (looking up an owner process is a blocking step), :func:`record` runs inside a
transaction and adds the entries.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from . import _checks, _records
from ._entries import MAX_METADATA_DEPTH, Entries, is_metadata
from ._errors import ArgumentTypeError, InvalidArgumentError, InvalidMetadataError, shown
from ._host import pid_namespace
from ._hygiene import excluded_ports
from ._models import Allocation, PortRange, ProcessIdentity
from ._probe import BindProber
from ._search import Claim, find_free_ports
from ._steps import Blocking, Steps

#: the most metadata one allocation may carry, as JSON: room for any key, never a screenful
MAX_METADATA_BYTES = 16 * 1024

__all__ = ("Request", "json_object", "prepare", "record", "role_names")


@_records.record
class Request:
    """A checked request for ports.

    :ivar span: where to look
    :ivar metadata: the JSON object stored with each entry
    :ivar owner: the owner process, or None
    :ivar roles: one role per port of a group, or None for a single port
    :ivar owner_pidns: the owner's PID namespace, where the OS has them
    """

    span: PortRange
    metadata: dict[str, Any]
    owner: ProcessIdentity | None
    roles: Sequence[str] | None
    owner_pidns: str | None = None

    @property
    def count(self) -> int:
        return 1 if self.roles is None else len(self.roles)


def owner_of(pid: int) -> tuple[ProcessIdentity, str | None]:
    """The identity and PID namespace of the process ``pid`` (a blocking step).

    :raises ProcessGoneError: when it does not exist.
    """
    from ._identity import process_identity  # psutil: loaded only for owner-bound requests

    return process_identity(pid), pid_namespace(pid)


def prepare(
    span: PortRange,
    metadata: Mapping[str, Any] | None,
    owner_pid: int | None,
    *,
    roles: Sequence[str] | None,
) -> Steps[Request]:
    """Check a request; every argument is checked before the registry is touched.

    :raises InvalidMetadataError, ValueError, ProcessGoneError: for bad arguments.
    """
    stored_metadata = json_object(metadata)
    owner: ProcessIdentity | None = None
    namespace = None
    if owner_pid is not None:
        owner, namespace = yield Blocking(owner_of, (_checks.owner_pid(owner_pid),))
    request = Request(span, stored_metadata, owner, roles, namespace)
    if request.count > len(span):
        reason = f"{request.count} ports cannot fit in range {span}, which has {len(span)}"
        raise InvalidArgumentError("count", request.count, reason)
    return request


def record(
    entries: Entries,
    request: Request,
    prober: BindProber,
    hostname: str,
    *,
    claim: Claim | None = None,
) -> Steps[list[Allocation]]:
    """Find the ports of ``request`` and add their entries (inside a transaction)."""
    skip = excluded_ports()
    ports = yield from find_free_ports(
        prober, request.span, request.count, entries, claim=claim, skip=skip
    )
    now = datetime.now(UTC)
    roles = request.roles
    # 12 hex digits, as uuid4().hex[:12] gave, without importing uuid on every start.
    group = None if roles is None else os.urandom(6).hex()
    owner = request.owner
    allocations = []
    for index, port in enumerate(ports):
        allocation = Allocation(
            port=port,
            allocated_at=now,
            metadata=request.metadata,
            pid=os.getpid(),
            hostname=hostname,
            group=group,
            role=None if roles is None else roles[index],
            **owner_fields(owner, request.owner_pidns),
        )
        entries.add(allocation)
        allocations.append(allocation)
    return allocations


def owner_fields(owner: ProcessIdentity | None, namespace: str | None) -> dict[str, Any]:
    """The fields of an entry that name its owner process (all None for no owner)."""
    return {
        "owner_pid": None if owner is None else owner.pid,
        "owner_create_time": None if owner is None else owner.create_time,
        "owner_token": None if owner is None else owner.token,
        "owner_pidns": namespace,
    }


def role_names(count: int, roles: Sequence[str] | str | None) -> list[str]:
    """The role of each port of a group: ``roles`` checked, or ``port1`` ... ``portN``.
    A string is the comma form (``"web,api"``), as the command line takes it.

    :raises InvalidArgumentError: when ``roles`` do not match ``count`` or repeat a name.
    :raises ArgumentTypeError: when ``roles`` is not a sequence of strings.
    """
    if roles is None:
        return [f"port{i}" for i in range(1, count + 1)]
    if isinstance(roles, str):
        names: list[object] = [name.strip() for name in roles.split(",")]
    elif isinstance(roles, Sequence):
        names = list(roles)
    else:
        message = f"roles must be role names, or 'a,b,c' text; got {shown(roles)}"
        raise ArgumentTypeError("roles", roles, message)
    if len(names) != count:
        reason = f"{count} ports need {count} roles, got {len(names)}: {_listed(names)}"
        raise InvalidArgumentError("roles", roles, reason)
    if any(not isinstance(n, str) or not n.strip() for n in names):
        raise InvalidArgumentError(
            "roles", roles, f"roles must be non-empty text, got {_listed(names)}"
        )
    if len(set(names)) != len(names):
        raise InvalidArgumentError("roles", roles, f"roles must be distinct, got {_listed(names)}")
    return [str(n) for n in names]


def check_group_size(count: object) -> int:
    """``count`` if it is a whole number of ports from 1 to 65535.

    :raises InvalidArgumentError: otherwise.
    """
    return _checks.group_size(count)


def _listed(names: Sequence[object]) -> str:
    return ", ".join(repr(n) if not isinstance(n, str) or not n.strip() else n for n in names)


def json_object(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """A detached, JSON-native copy of ``metadata``.

    :raises InvalidMetadataError: for anything but a mapping that orjson can write.
    """
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise InvalidMetadataError(f"expected a mapping, got {type(metadata).__name__}")
    try:
        encoded = orjson.dumps(dict(metadata))
    except TypeError as exc:
        raise InvalidMetadataError(f"not JSON-serialisable ({exc})") from exc
    if len(encoded) > MAX_METADATA_BYTES:
        raise InvalidMetadataError(
            f"{len(encoded):,} bytes as JSON, over the {MAX_METADATA_BYTES:,} an allocation "
            "may carry"
        )
    copy: dict[str, Any] = orjson.loads(encoded)
    if not is_metadata(copy):
        raise InvalidMetadataError(f"nested more than {MAX_METADATA_DEPTH} levels deep")
    return copy
