"""The dashboard: allocations grouped by app, worktree and role, each with its live state.

Every entry is probed (a non-blocking bind of some microseconds); the holders of the in-use
ones come from one snapshot of the socket table, so psutil is loaded only when a port is in
use.
"""

from __future__ import annotations

import enum

from .._records import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from .. import Allocation, Occupier, ProbeResult
    from .._sync import SyncPortManager

__all__ = ("DashboardRow", "LiveState", "build_rows", "live_state")


class LiveState(enum.StrEnum):
    """What holds an allocated port right now."""

    #: a process holds the port (the allocation's owner, or one we cannot tell apart from it)
    ACTIVE = "active"
    #: nothing holds it: a server could start on it
    FREE = "free"
    #: a process other than the allocation's owner holds it
    FOREIGN = "foreign"
    #: this user may not bind it (a privileged port)
    DENIED = "denied"


@record
class DashboardRow:
    """One allocation as the dashboard shows it.

    :ivar app: a named port's app, else ``metadata["app"]`` as stored (text, or any JSON
        value), or None
    :ivar worktree: a named port's worktree path, else ``metadata["worktree"]`` likewise
    :ivar name: a named port's service, else the group role, else ``metadata["service"]``
    :ivar branch: a named port's branch when it was recorded (``metadata["branch"]``)
    :ivar allocation: the registry entry
    :ivar state: what holds the port now
    :ivar occupier: the holder, when it could be found
    :ivar changed: its state (or holder) changed since the last frame of
        ``dashboard --watch`` (``_watch.py``); people's output marks it, JSON has no frames
    """

    app: object
    worktree: object
    name: object
    allocation: Allocation
    state: LiveState
    occupier: Occupier | None = None
    changed: bool = False
    branch: object = None

    @property
    def named(self) -> bool:
        return self.allocation.key is not None

    def to_dict(self) -> dict[str, Any]:
        occupier = self.occupier
        return {
            "app": self.app,
            "worktree": self.worktree,
            "name": self.name,
            "named": self.named,
            "branch": self.branch,
            "port": self.allocation.port,
            "state": self.state.value,
            "process": None
            if occupier is None
            else {"pid": occupier.pid, "name": occupier.process_name},
            "allocation": self.allocation.to_dict(),
        }


def live_state(allocation: Allocation, probe: ProbeResult, occupier: Occupier | None) -> LiveState:
    """Decide an entry's state from a bind probe and, when known, the port's holder.

    A holder is FOREIGN only when the allocation names its owner (``owner_pid``) and the
    holder is provably another process, outside the owner's process tree (a server that the
    owning shell or runner started is the owner's); otherwise we cannot tell, and say ACTIVE.
    """
    if probe.status.value == "denied":
        return LiveState.DENIED
    if not probe.in_use:
        return LiveState.FREE
    if (
        occupier is not None
        and occupier.pid is not None
        and allocation.owner_pid is not None
        and allocation.owner_pid not in (occupier.pid, *occupier.parent_pids)
    ):
        return LiveState.FOREIGN
    return LiveState.ACTIVE


def build_rows(door: SyncPortManager, allocations: Sequence[Allocation]) -> list[DashboardRow]:
    """Every entry with its live state; rows sorted by app, worktree, port."""
    probes = [door.probe(allocation.port) for allocation in allocations]
    holders = _holders(door, [probe.port for probe in probes if probe.in_use])
    rows = []
    for allocation, probe in zip(allocations, probes, strict=True):
        occupier = holders.get(allocation.port)
        app, worktree, service = (_value(part) for part in allocation.parts)
        named = allocation.key is not None
        rows.append(
            DashboardRow(
                app=app,
                worktree=worktree,
                name=service if named else allocation.role or service,
                allocation=allocation,
                state=live_state(allocation, probe, occupier),
                occupier=occupier,
                branch=_value(allocation.metadata.get("branch")) if named else None,
            )
        )
    # Named ports first, by app, worktree and service; then one-shot allocations, those
    # without an app (or worktree) first, as their placeholders sort.
    return sorted(
        rows,
        key=lambda r: (not r.named, r.app is not None, _key(r.app), r.worktree is not None,
                       _key(r.worktree), _key(r.name) if r.named else "", r.allocation.port),
    )  # fmt: skip


def _holders(door: SyncPortManager, ports: list[int]) -> dict[int, Occupier]:
    """The first holder of each in-use port, from one snapshot of the socket table."""
    if not ports:
        return {}
    from .. import AioportsError

    try:
        found = door.detect_occupiers_by_port(ports)
    except AioportsError:
        return {}  # the bind probes already said "in use"; the holders stay unnamed
    return {port: occupiers[0] for port, occupiers in found.items() if occupiers}


def _value(value: object) -> object:
    """A metadata value as the dashboard keeps it: JSON as it was, None for none or ``""``."""
    return None if value is None or value == "" else value


def _key(value: object) -> str:
    """How rows sort by a value that may be any JSON (text sorts as itself)."""
    if value is None or isinstance(value, str):
        return value or ""
    import orjson

    return orjson.dumps(value).decode()
