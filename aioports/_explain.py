"""Why a server cannot (or should not) start on a port: :func:`explain_port` gathers the
facts (a bind probe, one snapshot of the socket table, the owner's liveness, the kernel's
settings and the port hygiene of ``_hygiene.py``), :func:`decide` turns them into an
:class:`Explanation` without any I/O.

Plain sync functions: the sync door calls :func:`explain_port` directly, ``PortManager`` in a
worker thread (it reads the socket table and ``/proc``). Both doors read the port's registry
entry and the default range themselves, through their own registry shells.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from ._errors import PermissionDeniedError
from ._models import (
    Allocation,
    Explanation,
    ExplanationStatus,
    Occupier,
    PortRange,
    PortStatus,
    Reason,
    ReasonCode,
)
from ._probe import BindProber

__all__ = ("Facts", "decide", "explain_port", "unprivileged_port_start")

_UNPRIVILEGED_START = "/proc/sys/net/ipv4/ip_unprivileged_port_start"
_DEFAULT_UNPRIVILEGED_START = 1024


class Facts:
    """What :func:`decide` needs to know about one port, gathered at one moment.

    :ivar port: the port
    :ivar status: what a bind probe found
    :ivar occupiers: who holds it, or None when the OS hides the socket table
    :ivar allocation: its live registry entry, if any
    :ivar owner_alive: whether that entry's owner process runs (None: no owner, or unknown)
    :ivar default_range: the range ``allocate`` uses, or None when it cannot be read
    :ivar unprivileged_start: the first port this user may bind, unless root
    :ivar root: this process may bind any port
    :ivar browser_unsafe: browsers refuse to connect to the port
    :ivar reserved: the port is in the kernel's ``ip_local_reserved_ports``
    :ivar ephemeral: the kernel's ephemeral range, when the port is inside it
    :ivar now: when the facts were gathered
    """

    __slots__ = (
        "allocation",
        "browser_unsafe",
        "default_range",
        "ephemeral",
        "now",
        "occupiers",
        "owner_alive",
        "port",
        "reserved",
        "root",
        "status",
        "unprivileged_start",
    )

    def __init__(
        self,
        port: int,
        status: PortStatus,
        *,
        occupiers: Sequence[Occupier] | None = (),
        allocation: Allocation | None = None,
        owner_alive: bool | None = None,
        default_range: PortRange | None = None,
        unprivileged_start: int = _DEFAULT_UNPRIVILEGED_START,
        root: bool = False,
        browser_unsafe: bool = False,
        reserved: bool = False,
        ephemeral: PortRange | None = None,
        now: datetime | None = None,
    ) -> None:
        self.port, self.status, self.occupiers = port, status, occupiers
        self.allocation, self.owner_alive = allocation, owner_alive
        self.default_range, self.unprivileged_start, self.root = (
            default_range,
            unprivileged_start,
            root,
        )
        self.browser_unsafe, self.reserved, self.ephemeral = browser_unsafe, reserved, ephemeral
        self.now = now or datetime.now(UTC)


def unprivileged_port_start() -> int:
    """The first port a user without privileges may bind (Linux: a sysctl; else 1024)."""
    try:
        with open(_UNPRIVILEGED_START, "rb") as file:
            return int(file.read().strip())
    except (OSError, ValueError):
        return _DEFAULT_UNPRIVILEGED_START


def _owner_alive(allocation: Allocation | None) -> bool | None:
    if allocation is None or allocation.owner_pid is None:
        return None
    from ._identity import still_running
    from ._models import ProcessIdentity

    identity = ProcessIdentity(
        allocation.owner_pid, allocation.owner_create_time or 0.0, allocation.owner_token
    )
    try:
        return still_running(identity)
    except PermissionDeniedError:
        return None


def explain_port(
    prober: BindProber,
    port: int,
    allocation: Allocation | None,
    default_range: PortRange | None,
) -> Explanation:
    """Gather the facts about ``port`` and decide (see :meth:`PortManager.explain`)."""
    from ._hygiene import BROWSER_UNSAFE_PORTS, ephemeral_range, reserved_ports
    from ._occupier import occupiers_by_port

    status = prober.status(port)
    ephemeral = ephemeral_range()
    occupiers: list[Occupier] | None
    try:
        occupiers = occupiers_by_port((port,))[port]
    except PermissionDeniedError:  # the socket table is hidden (macOS without root)
        occupiers = None
    facts = Facts(
        port,
        status,
        occupiers=occupiers,
        allocation=allocation,
        owner_alive=_owner_alive(allocation),
        default_range=default_range,
        unprivileged_start=unprivileged_port_start(),
        root=hasattr(os, "geteuid") and os.geteuid() == 0,
        browser_unsafe=port in BROWSER_UNSAFE_PORTS,
        reserved=port in reserved_ports(),
        ephemeral=ephemeral if ephemeral is not None and port in ephemeral else None,
    )
    return decide(facts)


def decide(facts: Facts) -> Explanation:
    """The verdict and the reasons, from the facts alone (no I/O)."""
    from ._occupier import ORPHAN_STATES

    port = facts.port
    reasons: list[Reason] = []
    occupiers = facts.occupiers or ()
    holders = [o for o in occupiers if o.pid is not None or o.status not in ORPHAN_STATES]
    reasons += [_held(o) for o in holders]
    leftovers = [o for o in occupiers if o not in holders]
    if leftovers and not holders:
        reasons.append(_time_wait(port, leftovers[0]))
    if facts.allocation is not None:
        reasons.append(_allocated(facts.allocation, facts.owner_alive, facts.now))
    if facts.status is PortStatus.DENIED or (port < facts.unprivileged_start and not facts.root):
        reasons.append(
            Reason(
                ReasonCode.PRIVILEGED,
                f"Port {port} is privileged: only root may bind ports below "
                f"{facts.unprivileged_start} here.",
                {"unprivileged_port_start": facts.unprivileged_start},
            )
        )
    reasons += _hygiene(facts)
    span = facts.default_range
    # Only a port nobody has: an allocated one came from somewhere else on purpose (a
    # manifest's range, --range, reserve), and its allocation is the reason that counts.
    if span is not None and port not in span and facts.allocation is None:
        reasons.append(
            Reason(
                ReasonCode.OUTSIDE_RANGE,
                f"Port {port} is outside the default range {span}: allocate never hands it out.",
                {"range": span.to_dict()},
            )
        )
    status = _status(facts)
    return Explanation(
        port=port, status=status, reasons=tuple(reasons), message=_verdict(port, status, holders)
    )


def _hygiene(facts: Facts) -> list[Reason]:
    """What makes a port a poor choice even when a server can bind it."""
    port, found = facts.port, []
    if facts.browser_unsafe:
        found.append(
            Reason(
                ReasonCode.BROWSER_UNSAFE,
                f"Browsers refuse to connect to port {port} (ERR_UNSAFE_PORT: the fetch "
                "standard's bad ports); curl and other clients can.",
            )
        )
    if facts.reserved:
        found.append(
            Reason(
                ReasonCode.RESERVED,
                f"Port {port} is reserved on this host (ip_local_reserved_ports): the "
                "administrator set it aside, and allocate skips it.",
            )
        )
    if facts.ephemeral is not None:
        found.append(
            Reason(
                ReasonCode.EPHEMERAL,
                f"Port {port} is inside the kernel's ephemeral range {facts.ephemeral} "
                "(ip_local_port_range): an outgoing connection may take it while no server "
                "listens.",
                {"range": facts.ephemeral.to_dict()},
            )
        )
    return found


def _status(facts: Facts) -> ExplanationStatus:
    if facts.status is PortStatus.DENIED:
        return ExplanationStatus.DENIED
    if facts.status is PortStatus.IN_USE:
        return ExplanationStatus.IN_USE
    if facts.allocation is not None:
        return ExplanationStatus.ALLOCATED
    return ExplanationStatus.FREE


def _name(occupier: Occupier) -> str:
    pid = "unknown" if occupier.pid is None else occupier.pid
    return f"{occupier.process_name or 'a process'} (PID {pid})"


def _verdict(port: int, status: ExplanationStatus, holders: Sequence[Occupier]) -> str:
    if status is ExplanationStatus.DENIED:
        return f"Port {port} is denied: this user may not bind it."
    if status is ExplanationStatus.IN_USE:
        if not holders:
            return f"Port {port} is in use, by a socket the socket table does not show."
        return f"Port {port} is in use: held by {', '.join(map(_name, holders))}."
    if status is ExplanationStatus.ALLOCATED:
        return (
            f"Port {port} is free to bind, but allocated in the registry: its server may "
            "start any moment."
        )
    return f"Port {port} is free: a server could start on it now."


def _held(occupier: Occupier) -> Reason:
    user = occupier.username or (None if occupier.uid is None else f"uid {occupier.uid}")
    where = ", ".join(occupier.addresses) or "an unknown address"
    whose = "" if user is None else f" of user {user}"
    if occupier.pid is None:
        what = f"A process this user cannot see{whose}"
    else:
        what = f"{_name(occupier)}{whose}"
    facts: dict[str, Any] = {
        "pid": occupier.pid,
        "name": occupier.process_name,
        "user": occupier.username,
        "uid": occupier.uid,
        "addresses": list(occupier.addresses),
        "state": occupier.status,
    }
    return Reason(ReasonCode.HELD, f"{what} holds it on {where} ({occupier.status}).", facts)


def _time_wait(port: int, leftover: Occupier) -> Reason:
    return Reason(
        ReasonCode.TIME_WAIT,
        f"Only a closed connection lingers in {leftover.status}: a server that sets "
        "SO_REUSEADDR can bind it, one that does not must wait (up to a minute).",
        {"state": leftover.status, "addresses": list(leftover.addresses)},
    )


def _allocated(allocation: Allocation, owner_alive: bool | None, now: datetime) -> Reason:
    meta = allocation.metadata
    age = max(0.0, (now - allocation.allocated_at).total_seconds())
    key = allocation.key
    # A named port's key, else what a one-shot allocation's metadata says.
    labels = {
        name: getattr(allocation, name) if key is not None else meta.get(name)
        for name in ("app", "worktree", "service")
    }
    named = [f"{name} {value}" for name, value in labels.items() if value is not None]
    what = f" for {', '.join(named)}" if named else ""
    if allocation.owner_pid is None:
        owner = "; it stays until released"
    else:
        state = {True: "alive", False: "gone", None: "unknown"}[owner_alive]
        owner = f"; owner PID {allocation.owner_pid} ({state})"
    facts: dict[str, Any] = {
        "allocation": allocation.to_dict(),
        "key": None if key is None else key.to_dict(),
        "owner_pid": allocation.owner_pid,
        "owner_alive": owner_alive,
        "age_seconds": round(age, 3),
        **labels,
    }
    return Reason(
        ReasonCode.ALLOCATED,
        f"Allocated{what} {_age(age)} ago by PID {allocation.pid}{owner}.",
        facts,
    )


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"
