"""``kill-port PORT...`` and ``reserve PORT``: end a port's holders (SIGTERM; ``--force``
SIGKILL; ``--timeout S`` SIGTERM then SIGKILL after S seconds), and ``--dry-run``, which runs
every check of the kill and names who would be signalled, changing nothing."""

from __future__ import annotations

from ._commands import (
    _metadata,
    _owned,
    _owner_pid,
    _waiting_door,
    each_port,
    port_arg,
)
from ._results import Result, Style

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from .. import Occupier
    from .._sync import SyncPortManager
    from ._context import Context

__all__ = ("WouldKill", "kill_port", "reserve")


def _kill_options(ctx: Context) -> dict[str, Any]:
    """``kill_occupier``'s options from ``--force``, ``--allow-other-users`` and
    ``--timeout S`` (SIGTERM, up to S seconds, then SIGKILL)."""
    options: dict[str, Any] = {
        "force": ctx.flag("force"),
        "allow_other_users": ctx.flag("allow_other_users"),
    }
    timeout = ctx.seconds("timeout")
    if timeout is not None:
        options |= {"timeout": timeout, "escalate": True}
    return options


def _dry_run(ctx: Context, port: int) -> Result:
    """Who a kill would signal, with every check the kill makes; nothing is signalled."""
    from .._occupier import signal_targets

    _, holders = signal_targets(port, allow_other_users=ctx.flag("allow_other_users"))
    return WouldKill(port, holders, "SIGKILL" if ctx.flag("force") else "SIGTERM")


def kill_port(ctx: Context) -> Result:
    from ._failure import rerun
    from ._results_live import Killed

    if ctx.flag("dry_run"):
        return each_port(ctx, lambda port: _dry_run(ctx, port))
    options = _kill_options(ctx)
    door = _waiting_door(ctx)
    hint = None if options["force"] or "escalate" in options else rerun(ctx.parsed, "--force")

    def kill(port: int) -> Result:
        return Killed(door.run_async(lambda pm: pm.kill_occupier(port, **options)), hint)

    return each_port(ctx, kill)


def reserve(ctx: Context) -> Result:
    from .._hygiene import port_warnings
    from ._results import warned
    from ._results_live import Reserved

    port = port_arg(ctx.arg("port"))
    metadata = _metadata(ctx, ("app", "worktree", "service"))
    door = _waiting_door(ctx)
    if ctx.flag("dry_run"):
        return _reserve_dry_run(ctx, door, port)
    options = _kill_options(ctx)
    owner = _owner_pid(ctx)
    reservation = _owned(
        owner,
        lambda: door.run_async(
            lambda pm: pm.reserve(
                port,
                kill_if_occupied=ctx.flag("kill"),
                metadata=metadata,
                owner_pid=owner,
                **options,
            )
        ),
    )
    return warned(Reserved(reservation), port_warnings(port))


def _reserve_dry_run(ctx: Context, door: SyncPortManager, port: int) -> Result:
    """``reserve --kill --dry-run``: the checks ``reserve`` makes first, then who its kill
    would signal; nothing is signalled or recorded."""
    from .. import PermissionDeniedError, PortInUseError, PortStatus
    from .._occupier import signal_targets
    from .._takeover import _recorded_already

    status = door.probe(port).status
    if status is PortStatus.DENIED:
        raise PermissionDeniedError(
            f"port {port} is privileged: this user may not bind it, so it would not be reserved"
        )
    signal = "SIGKILL" if ctx.flag("force") else "SIGTERM"
    existing = next((a for a in door.list_allocations() if a.port == port), None)
    if existing is not None:  # another's: the error; the same key's: reserve signals nobody
        _recorded_already(port, existing, _metadata(ctx, ("app", "worktree", "service")))
        return WouldKill(port, (), signal, reserve=True)
    holders: list[Occupier] = []
    if status is PortStatus.IN_USE:
        _, holders = signal_targets(port, allow_other_users=ctx.flag("allow_other_users"))
        if not holders:  # bound by a socket the socket table does not show: reserve fails
            raise PortInUseError(port, None)
    return WouldKill(port, holders, signal, reserve=True)


class WouldKill(Result):
    """``--dry-run``: who ``kill-port`` (or ``reserve --kill``) would signal; nothing was.

    :ivar port: the port
    :ivar holders: the processes that would be signalled (each passed the kill's checks)
    :ivar signal: the first signal they would get
    :ivar reserve: the dry run of ``reserve --kill`` (which would then record the port)
    """

    __slots__ = ("holders", "port", "reserve", "signal")

    def __init__(
        self, port: int, holders: Sequence[Occupier], signal: str, *, reserve: bool = False
    ) -> None:
        self.port, self.holders, self.signal, self.reserve = port, tuple(holders), signal, reserve

    @property
    def status(self) -> str:
        if self.reserve:
            return "would_reserve"
        return "would_kill" if self.holders else "free"

    @property
    def message(self) -> str:
        then = f", then reserve port {self.port}" if self.reserve else ""
        if not self.holders:
            if self.reserve:
                return f"Port {self.port} is free: reserve would record it (dry run)."
            return f"Port {self.port} is free; nothing would be killed (dry run)."
        from ._results_live import who

        names = ", ".join(who(o) for o in self.holders)
        return f"Port {self.port}: would send {self.signal} to {names}{then} (dry run)."

    def details(self, style: Style) -> list[str]:
        return ["Nothing was signalled or changed."]

    def to_dict(self) -> dict[str, Any]:
        from ._results_live import process

        first = process(self.holders[0]) if self.holders else None
        shown = {"port": self.port}
        if self.reserve:
            shown |= {"was_occupied": bool(self.holders)}
        return shown | {
            "killed": False,
            "process": first,
            "processes": [process(o) for o in self.holders],
            "signal": self.signal if self.holders else None,
            "dry_run": True,
        }
