"""How results look to people: :class:`HumanRenderer` writes sentences to the streams it is
given. The sentences are shared with the JSON renderer (``_render_json.py``), whose documents
carry them as ``message``."""

from __future__ import annotations

import os
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TextIO

from .. import (
    Allocation,
    AllocationGroup,
    CleanupResult,
    KillResult,
    Occupier,
    PortInUseError,
    PortRange,
    ProbeResult,
    RepairResult,
)
from .._occupier import ORPHAN_STATES
from ._dashboard import NO_APP, NO_WORKTREE, DashboardRow, LiveState

__all__ = (
    "HumanRenderer",
    "Renderer",
    "ScanReport",
    "group_released_sentence",
    "is_orphan",
    "printable",
    "probed_sentence",
    "range_sentence",
    "released_sentence",
    "repaired_sentence",
    "scanned_sentence",
    "who",
)

PREFIX = "aioports: "
PACKAGE = "\N{PACKAGE}"
HERB = "\N{HERB}"


@dataclass(frozen=True, slots=True)
class ScanReport:
    """A scan as the CLI shows it.

    :ivar range: the range scanned
    :ivar in_use: each in-use port's probe, with its holder when known
    :ivar free: how many ports of the range are free
    """

    range: PortRange
    in_use: tuple[tuple[ProbeResult, Occupier | None], ...]
    free: int


class Renderer(Protocol):
    """One method per outcome; the command handlers call exactly one of them."""

    def allocated(self, port: int, metadata: Mapping[str, Any], owner_pid: int | None) -> None: ...
    def group_allocated(self, group: AllocationGroup) -> None: ...
    def released(self, port: int, released: bool) -> None: ...
    def group_released(self, group_id: str, ports: Sequence[int]) -> None: ...
    def allocations(self, allocations: Sequence[Allocation]) -> None: ...
    def probed(self, result: ProbeResult) -> None: ...
    def cleaned(self, result: CleanupResult) -> None: ...
    def cleanup_cancelled(self) -> None: ...
    def repaired(self, registry: Path, result: RepairResult) -> None: ...
    def range_shown(
        self, range: PortRange, source: str, config: Path, *, changed: bool
    ) -> None: ...
    def dashboard(self, rows: Sequence[DashboardRow]) -> None: ...
    def detected(self, port: int, occupier: Occupier | None) -> None: ...
    def killed(self, result: KillResult) -> None: ...
    def reserved(
        self, port: int, was_occupied: bool, killed: bool, occupier: Occupier | None
    ) -> None: ...
    def scanned(self, report: ScanReport) -> None: ...
    def version(self, version: str) -> None: ...
    def error(self, exc: BaseException) -> None: ...


# -- the sentences, shared by both renderers ---------------------------------------------


def released_sentence(port: int, released: bool) -> str:
    if released:
        return f"Released port {port}."
    return f"Port {port} was not allocated; nothing to release."


def group_released_sentence(group_id: str, ports: Sequence[int]) -> str:
    if ports:
        return f"Released port group {group_id}: {', '.join(map(str, ports))}."
    return f"No port group {group_id} is allocated; nothing to release."


def probed_sentence(result: ProbeResult) -> str:
    if result.status.value == "denied":
        return f"Port {result.port} cannot be bound by this user (a privileged port)."
    return f"Port {result.port} is {'in use' if result.in_use else 'free'}."


def repaired_sentence(registry: Path, result: RepairResult) -> str:
    if result.repaired:
        return (
            f"The registry {registry} was unusable ({result.reason}). "
            f"It was moved to {result.backup_path} and a fresh one was started."
        )
    return f"The registry {registry} is healthy; nothing to repair."


_SOURCES = {
    "environment": "from $AIOPORTS_RANGE",
    "config": "saved in {config}",
    "default": "the built-in default",
}


def range_sentence(range: PortRange, source: str, config: Path, *, changed: bool) -> str:
    where = _SOURCES[source].format(config=config)
    if changed:
        return f"The default port range is now {range} ({where})."
    return f"The default port range is {range} ({where})."


def _who(pid: int | None, name: str | None) -> str:
    return f"{printable(name or 'unknown')} (PID: {'unknown' if pid is None else pid})"


def who(occupier: Occupier) -> str:
    """``node (PID: 12498)``; a process this user cannot see is named by its uid if known."""
    if occupier.pid is None and occupier.process_name is None:
        uid = "" if occupier.uid is None else f" of uid {occupier.uid}"
        return f"unknown process{uid} (PID: unknown)"
    return _who(occupier.pid, occupier.process_name)


def is_orphan(occupier: Occupier | None) -> bool:
    """A socket no process holds (a closed connection in TIME_WAIT ...): nothing to name or
    kill, and a server that sets SO_REUSEADDR can bind the port."""
    return occupier is not None and occupier.pid is None and occupier.status in ORPHAN_STATES


def orphan_sentence(occupier: Occupier) -> str:
    return (
        f"Port {occupier.port} is not held by any process: only a closed connection lingers "
        f"in {occupier.status}, and a server that sets SO_REUSEADDR can bind the port."
    )


def printable(text: str) -> str:
    """``text`` with control characters escaped (``\\x1b``, ``\\n``): a value from the
    registry must not move the cursor, colour the terminal or forge extra lines."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def scanned_sentence(report: ScanReport) -> str:
    used = len(report.in_use)
    return (
        f"{used} of {len(report.range)} ports in {report.range} "
        f"{'is' if used == 1 else 'are'} in use; {report.free} free."
    )


# -- people ------------------------------------------------------------------------------


class HumanRenderer:
    """Sentences for people: results on ``out``, errors on ``err``.

    :param colour: colour the dashboard states (a terminal without ``NO_COLOR``)
    :param emoji: show the dashboard's emoji (such a terminal that also speaks UTF-8)
    """

    def __init__(self, out: TextIO, err: TextIO, *, colour: bool, emoji: bool) -> None:
        self._out = out
        self._err = err
        self._colour = colour
        self._emoji = emoji

    def _say(self, *lines: str) -> None:
        self._out.write(PREFIX + "\n".join(lines) + "\n")

    def _fail(self, message: str) -> None:
        """One line on stderr, escaped: a failure never goes to stdout."""
        self._err.write(f"{PREFIX}error: {printable(message)}\n")

    def allocated(self, port: int, metadata: Mapping[str, Any], owner_pid: int | None) -> None:
        self._say(f"Allocated port {port}.")

    def group_allocated(self, group: AllocationGroup) -> None:
        lines = [f"  {printable(role)}: {port}" for role, port in group.ports.items()]
        self._say(f"Allocated port group {group.group_id}.", *lines)

    def released(self, port: int, released: bool) -> None:
        self._say(released_sentence(port, released))

    def group_released(self, group_id: str, ports: Sequence[int]) -> None:
        self._say(group_released_sentence(group_id, ports))

    def allocations(self, allocations: Sequence[Allocation]) -> None:
        if not allocations:
            self._say("No ports are allocated.")
            return
        header = ("PORT", "APP", "WORKTREE", "SERVICE/ROLE", "GROUP", "OWNER", "ALLOCATED (UTC)")
        rows = [header]
        for a in allocations:
            meta = a.metadata
            rows.append(
                (
                    str(a.port),
                    str(meta.get("app", "-")),
                    str(meta.get("worktree", "-")),
                    a.role or str(meta.get("service", "-")),
                    a.group or "-",
                    "-" if a.owner_pid is None else str(a.owner_pid),
                    a.allocated_at.strftime("%Y-%m-%d %H:%M:%S"),
                )
            )
        self._table(rows)

    def _table(self, rows: Sequence[Sequence[str]]) -> None:
        rows = [[printable(cell) for cell in row] for row in rows]
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            self._out.write("  ".join(cells).rstrip() + "\n")

    def probed(self, result: ProbeResult) -> None:
        self._say(probed_sentence(result))

    def cleaned(self, result: CleanupResult) -> None:
        self._say(f"Cleaned up: released {result.released} allocation(s).")

    def cleanup_cancelled(self) -> None:
        self._err.write(PREFIX + "Cleanup cancelled; nothing was removed.\n")

    def repaired(self, registry: Path, result: RepairResult) -> None:
        self._say(repaired_sentence(registry, result))

    def range_shown(self, range: PortRange, source: str, config: Path, *, changed: bool) -> None:
        self._say(range_sentence(range, source, config, changed=changed))

    def dashboard(self, rows: Sequence[DashboardRow]) -> None:
        if not rows:
            self._say("No ports are allocated.")
            return
        title = "aioports - Port Allocations"
        out = [title, "=" * len(title)]
        names = [printable(row.name or "-") for row in rows]
        width = max(map(len, names))
        app: object = object()
        worktree: object = object()
        for row, name in zip(rows, names, strict=True):
            if row.app != app:
                app, worktree = row.app, object()
                out += ["", f"{self._icon(PACKAGE)}App: {printable(row.app or NO_APP)}"]
            if row.worktree != worktree:
                worktree = row.worktree
                shown = printable(row.worktree or NO_WORKTREE)
                out.append(f"  {self._icon(HERB)}Worktree: {shown}")
            out.append(f"     {name.ljust(width)}  {row.allocation.port:<5}  {self._state(row)}")
        self._out.write("\n".join(out) + "\n")

    def _icon(self, emoji: str) -> str:
        return f"{emoji} " if self._emoji else ""

    def _state(self, row: DashboardRow) -> str:
        label = f"[{row.state.name}]"
        if self._colour:
            code = {LiveState.ACTIVE: "32", LiveState.FREE: "2", LiveState.FOREIGN: "33"}
            label = f"\033[{code.get(row.state, '31')}m{label}\033[0m"
        occupier = row.occupier
        if occupier is not None and row.state in (LiveState.ACTIVE, LiveState.FOREIGN):
            pid = "unknown" if occupier.pid is None else occupier.pid
            label += f" {printable(occupier.process_name or 'unknown')} (PID {pid})"
        return label

    def detected(self, port: int, occupier: Occupier | None) -> None:
        if occupier is None:
            self._say(f"Port {port} is free.")
        elif is_orphan(occupier):
            self._say(orphan_sentence(occupier))
        else:
            self._say(
                f"Port {port} is currently occupied.",
                f"Process: {who(occupier)}",
                "No action was taken.",
            )

    def killed(self, result: KillResult) -> None:
        port, pids = result.port, result.pids or (() if result.pid is None else (result.pid,))
        if result.pid is None and not result.killed:
            if result.port_free:
                self._say(f"Port {port} is free; nothing to kill.")
            else:
                self._say(f"Port {port} is not held by any process; nothing to kill.")
        elif result.signal is None and not result.killed:
            holder = _who(result.pid, result.process_name)
            self._say(f"Port {port} was held by {holder}, which exited first; nothing to kill.")
        elif result.killed:
            if len(pids) > 1:
                head = f"Port {port} was occupied by PIDs {', '.join(map(str, pids))}."
                done = "aioports has safely terminated the processes."
            else:
                head = f"Port {port} was occupied by PID {result.pid}."
                done = "aioports has safely terminated the process."
            self._say(head, done, "PortShot was prevented.")
        else:
            holder = _who(result.pid, result.process_name)
            if len(pids) > 1:
                holder = f"PIDs {', '.join(map(str, pids))}"
            self._fail(
                f"Port {port} is occupied by {holder}, which did not exit in time; "
                "use --force to kill it outright"
            )

    def reserved(
        self, port: int, was_occupied: bool, killed: bool, occupier: Occupier | None
    ) -> None:
        if killed:
            pid = None if occupier is None else occupier.pid
            self._say(
                f"Port {port} was occupied by PID {'unknown' if pid is None else pid}.",
                "aioports has safely terminated the process.",
            )
        self._say(f"Port {port} is now reserved.")

    def scanned(self, report: ScanReport) -> None:
        self._say(scanned_sentence(report))
        if report.in_use:
            rows = [("PORT", "STATUS", "PROCESS")]
            for probe, occupier in report.in_use:
                holder = "-" if occupier is None else who(occupier)
                rows.append((str(probe.port), probe.status.value, holder))
            self._table(rows)

    def version(self, version: str) -> None:
        self._out.write(f"aioports {version}\n")

    def error(self, exc: BaseException) -> None:
        if isinstance(exc, PortInUseError):
            occupier = exc.occupier
            lines = [f"Port {exc.port} is currently occupied."]
            if occupier is not None:
                lines.append(f"Process: {who(occupier)}")
            lines += ["No action was taken.", "Add --kill to end it and reserve the port."]
            self._err.write(PREFIX + "\n".join(lines) + "\n")
            return
        self._fail(str(exc))
        if os.environ.get("AIOPORTS_DEBUG") == "1":
            traceback.print_exception(exc.__cause__ or exc, file=self._err)
