"""Results of the commands that look at live processes: detect, kill-port, reserve, scan and
the dashboard (see ``_results.py`` for the contract)."""

from __future__ import annotations

import os

from .._models import KillOutcome
from ._results import (
    MAX_CELL,
    PREFIX,
    Listing,
    Recorded,
    Result,
    Style,
    allocated_line,
    cell,
    printable,
    table,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from .. import (
        Allocation,
        KillResult,
        Occupier,
        PortRange,
        ProbeResult,
        Reservation,
        ScanResult,
    )
    from ._dashboard import DashboardRow

__all__ = (
    "Dashboard",
    "Detected",
    "Killed",
    "Reserved",
    "Scanned",
    "is_orphan",
    "who",
)

PACKAGE = "\N{PACKAGE}"
HERB = "\N{HERB}"
NO_APP = "(no app)"
NO_WORKTREE = "(no worktree)"
#: how ``dashboard --watch`` marks a row whose state changed since its last frame
CHANGED = "*"


def _who(pid: int | None, name: str | None) -> str:
    return f"{printable(name or 'unknown')} (PID: {'unknown' if pid is None else pid})"


def _user(occupier: Occupier) -> str | None:
    """``root (uid 0)``, ``uid 0`` or ``root``: the holder's user as far as the system says."""
    name, uid = occupier.username, occupier.uid
    if name is not None and uid is not None:
        return f"{name} (uid {uid})"
    return name if uid is None else f"uid {uid}"


def _another_user(occupier: Occupier) -> bool:
    geteuid = getattr(os, "geteuid", None)
    return geteuid is not None and occupier.uid is not None and occupier.uid != geteuid()


def who(occupier: Occupier) -> str:
    """``node (PID: 12498)``; another user's process also names that user (``nginx (PID: 80,
    user www-data)``), and one this user cannot see is named by its user as far as the
    system says (``unknown process of user root (uid 0, PID: unknown)``)."""
    user = _user(occupier)
    if occupier.pid is None and occupier.process_name is None:
        if user is None:
            return "unknown process (PID: unknown)"
        if occupier.username is None:
            return f"unknown process of {user} (PID: unknown)"
        return f"unknown process of user {occupier.username} (uid {occupier.uid}, PID: unknown)"
    shown = _who(occupier.pid, occupier.process_name)
    if _another_user(occupier) and occupier.username is not None:
        return f"{shown[:-1]}, user {printable(occupier.username)})"
    return shown


def is_orphan(occupier: Occupier | None) -> bool:
    """A socket no process holds (a closed connection in TIME_WAIT ...): nothing to name or
    kill, and a server that sets SO_REUSEADDR can bind the port."""
    if occupier is None or occupier.pid is not None:
        return False
    from .._occupier import ORPHAN_STATES  # psutil is loaded already: an occupier was found

    return occupier.status in ORPHAN_STATES


def process(occupier: Occupier | None) -> dict[str, Any] | None:
    return None if occupier is None else {"pid": occupier.pid, "name": occupier.process_name}


class Detected(Result):
    """``detect PORT``: every holder of the port (a pre-fork server's workers too), and its
    registry entry when it has one."""

    __slots__ = ("allocation", "occupiers", "port")

    def __init__(
        self, port: int, occupiers: Sequence[Occupier], allocation: Allocation | None = None
    ) -> None:
        self.port, self.occupiers, self.allocation = port, tuple(occupiers), allocation

    @property
    def occupier(self) -> Occupier | None:
        """The first holder (a listener before connections), or None."""
        return self.occupiers[0] if self.occupiers else None

    def _holders(self) -> list[Occupier]:
        return [o for o in self.occupiers if not is_orphan(o)]

    @property
    def status(self) -> str:
        return "occupied" if self._holders() else "free"

    @property
    def message(self) -> str:
        occupier = self.occupier
        if occupier is None:
            return f"Port {self.port} is free."
        if is_orphan(occupier):
            return (
                f"Port {self.port} is not held by any process: only a closed connection "
                f"lingers in {occupier.status}, and a server that sets SO_REUSEADDR can bind "
                "the port."
            )
        return f"Port {self.port} is currently occupied."

    def details(self, style: Style) -> list[str]:
        lines = [f"Process: {who(o)}" for o in self._holders()]
        if self.allocation is not None:
            lines.append(allocated_line(self.allocation))
        return [*lines, "No action was taken."] if self._holders() else lines

    def to_dict(self) -> dict[str, Any]:
        occupier = self.occupier
        found = {} if self.allocation is None else {"allocation": self.allocation.to_dict()}
        return {
            "port": self.port,
            "process": None if is_orphan(occupier) else process(occupier),
            "occupier": None if occupier is None else occupier.to_dict(),
            "occupiers": [o.to_dict() for o in self.occupiers],
        } | found

    def quiet(self) -> str:
        return "".join(f"{o.pid}\n" for o in self._holders() if o.pid is not None)


_KILL_STATUS = {
    KillOutcome.NO_HOLDER: "free",
    KillOutcome.EXITED_FIRST: "exited",
    KillOutcome.KILLED: "killed",
    KillOutcome.SURVIVED: "not_killed",
}


class Killed(Recorded):
    """``kill-port PORT``; ``hint`` is the command to run when the holder outlived SIGTERM."""

    __slots__ = ("hint",)

    record: KillResult

    def __init__(self, record: KillResult, hint: str | None = None) -> None:
        super().__init__(record)
        self.hint = hint

    @property
    def outcome(self) -> KillOutcome:
        return self.record.outcome

    @property
    def status(self) -> str:
        return _KILL_STATUS[self.outcome]

    @property
    def code(self) -> int:  # type: ignore[override]
        return 1 if self.outcome is KillOutcome.SURVIVED else 0

    @property
    def to_stderr(self) -> bool:  # type: ignore[override]
        return self.outcome is KillOutcome.SURVIVED

    def _pids(self) -> tuple[int, ...]:
        r = self.record
        return r.pids or (() if r.pid is None else (r.pid,))

    @property
    def message(self) -> str:
        r, outcome, pids = self.record, self.outcome, self._pids()
        if outcome is KillOutcome.NO_HOLDER:
            if r.port_free:
                return f"Port {r.port} is free; nothing to kill."
            return f"Port {r.port} is not held by any process; nothing to kill."
        holder = _who(r.pid, r.process_name)
        if outcome is KillOutcome.EXITED_FIRST:
            return f"Port {r.port} was held by {holder}, which exited first; nothing to kill."
        if outcome is KillOutcome.KILLED:
            late = "; SIGTERM was not enough, SIGKILL ended it" if r.escalated else ""
            if len(pids) > 1:
                return f"Port {r.port} was occupied by PIDs {', '.join(map(str, pids))}{late}."
            return f"Port {r.port} was occupied by PID {r.pid}{late}."
        if len(pids) > 1:
            holder = f"PIDs {', '.join(map(str, pids))}"
        if r.signal == "SIGKILL":
            return f"Port {r.port} is occupied by {holder}, which did not exit after SIGKILL"
        return (
            f"Port {r.port} is occupied by {holder}, which did not exit in time; "
            "use --force to kill it outright"
        )

    def details(self, style: Style) -> list[str]:
        if self.outcome is not KillOutcome.KILLED:
            return []
        which = "processes" if len(self._pids()) > 1 else "process"
        return [f"aioports has safely terminated the {which}.", "PortShot was prevented."]

    def human(self, style: Style) -> str:
        if self.to_stderr:  # a failure: one line on stderr
            return f"{PREFIX}error: {self.message}\n"
        return Result.human(self, style)

    def to_dict(self) -> dict[str, Any]:
        r = self.record
        names = {o.pid: o.process_name for o in r.occupiers if o.pid is not None}
        if r.pid is not None:
            names.setdefault(r.pid, r.process_name)
        first = (
            None
            if r.pid is None and r.process_name is None
            else {"pid": r.pid, "name": r.process_name}
        )
        hint = (
            {}
            if self.hint is None or self.outcome is not KillOutcome.SURVIVED
            else {"hint": self.hint}
        )
        return {
            "port": r.port,
            "killed": r.killed,
            "process": first,
            "processes": [{"pid": pid, "name": names.get(pid)} for pid in self._pids()],
            "signal": r.signal,
            "escalated": r.escalated,
        } | hint


class Reserved(Recorded):
    record: Reservation

    status = "reserved"

    @property
    def message(self) -> str:
        return f"Port {self.record.port} is now reserved."

    def human(self, style: Style) -> str:
        r = self.record
        if not r.killed:
            return Result.human(self, style)
        pid = None if r.occupier is None else r.occupier.pid
        return (
            f"{PREFIX}Port {r.port} was occupied by PID {'unknown' if pid is None else pid}.\n"
            "aioports has safely terminated the process.\n" + Result.human(self, style)
        )

    def to_dict(self) -> dict[str, Any]:
        r = self.record
        return {
            "port": r.port,
            "was_occupied": r.was_occupied,
            "killed": r.killed,
            "process": process(r.occupier),
        }


class Scanned(Result):
    """A scan: each in-use port with its first holder, when one was found."""

    __slots__ = ("free", "in_use", "range")

    def __init__(
        self, range: PortRange, in_use: tuple[tuple[ProbeResult, Occupier | None], ...], free: int
    ) -> None:
        self.range, self.in_use, self.free = range, in_use, free

    status = "ok"

    @classmethod
    def of(cls, result: ScanResult) -> Scanned:
        in_use = tuple((p, next(iter(result.holders(p.port)), None)) for p in result.in_use)
        return cls(range=result.range, in_use=in_use, free=result.free)

    @property
    def message(self) -> str:
        used = len(self.in_use)
        return (
            f"{used} of {len(self.range)} ports in {self.range} "
            f"{'is' if used == 1 else 'are'} in use; {self.free} free."
        )

    def details(self, style: Style) -> list[str]:
        if not self.in_use:
            return []
        rows = [("PORT", "STATUS", "PROCESS")]
        for probe, occupier in self.in_use:
            rows.append((str(probe.port), probe.status.value, "-" if occupier is None else
                         who(occupier)))  # fmt: skip
        return table(rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "range": self.range.to_dict(),
            "in_use": [
                {"port": p.port, "status": p.status.value, "process": process(o)}
                for p, o in self.in_use
            ],
            "free": self.free,
        }


_COLOURS = {"active": "32", "free": "2", "foreign": "33"}


class Dashboard(Listing):
    record: Sequence[DashboardRow]  # type: ignore[assignment]

    def human(self, style: Style) -> str:
        rows = self.record
        if not rows:
            return PREFIX + self.message + "\n"
        title = "aioports - Port Allocations"
        out = [title, "=" * len(title)]
        names = [_cut_label(cell(row.name)) for row in rows]
        width = max(map(len, names))
        app: object = object()
        worktree: object = object()
        named = True
        package, herb = (f"{PACKAGE} ", f"{HERB} ") if style.emoji else ("", "")
        for row, name in zip(rows, names, strict=True):
            if named and not row.named:  # the named ports are done: one-shot ones follow
                named, app = False, object()
                if row is not rows[0]:
                    out += ["", "One-shot allocations"]
            if row.app != app:
                app, worktree = row.app, object()
                shown = NO_APP if row.app is None else _cut_label(cell(row.app))
                out += ["", f"{package}App: {shown}"]
            if row.worktree != worktree:
                worktree = row.worktree
                out.append(f"  {herb}Worktree: {_worktree(row)}")
            mark = CHANGED if row.changed else " "
            out.append(
                f"   {mark} {name.ljust(width)}  {row.allocation.port:<5}  {_state(row, style)}"
            )
        return "\n".join(out) + "\n"


def _worktree(row: DashboardRow) -> str:
    """A named port's worktree as its branch and path; else the metadata value."""
    if row.worktree is None:
        return NO_WORKTREE
    shown = _cut_label(cell(row.worktree))
    return f"{_cut_label(cell(row.branch))}  ({shown})" if row.branch is not None else shown


def _cut_label(text: str) -> str:
    text = printable(text)
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 3] + "..."


def _state(row: DashboardRow, style: Style) -> str:
    state = row.state.value
    label = f"[{row.state.name}]"
    if style.colour:
        # A changed row's state in reverse video too, so that the eye finds it.
        reverse = ";7" if row.changed else ""
        label = f"\033[{_COLOURS.get(state, '31')}{reverse}m{label}\033[0m"
    occupier = row.occupier
    if occupier is not None and state in ("active", "foreign"):
        pid = "unknown" if occupier.pid is None else occupier.pid
        label += f" {printable(occupier.process_name or 'unknown')} (PID {pid})"
    return label
