"""What handlers return: one result object per run, rendered for people and for ``--json``
from the same fields and the same sentence.

A result has ``status``, ``message`` (the one sentence both outputs show), ``to_dict()``
(its facts) and ``code`` (the exit code). The JSON document is
``{"status": ..., **to_dict(), "message": ...}`` unless ``document()`` says otherwise (a
listing is a bare array); people see ``aioports: <message>`` and any ``details()`` lines,
on stderr when ``to_stderr`` is set.
"""

from __future__ import annotations

from dataclasses import dataclass

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path
    from typing import Any

    from .. import Allocation, AllocationGroup, CleanupResult, PortRange, ProbeResult, RepairResult

__all__ = (
    "PREFIX",
    "Allocated",
    "Cancelled",
    "Cleaned",
    "GroupAllocated",
    "GroupReleased",
    "Listing",
    "Probed",
    "RangeShown",
    "Released",
    "Repaired",
    "Result",
    "Style",
    "Version",
    "printable",
    "table",
)

PREFIX = "aioports: "


@dataclass(frozen=True, slots=True)
class Style:
    """How people's output may look: colour (a terminal without ``NO_COLOR``) and emoji
    (such a terminal that also speaks UTF-8)."""

    colour: bool = False
    emoji: bool = False


def printable(text: str) -> str:
    """``text`` with control characters escaped (``\\x1b``, ``\\n``): a value from the
    registry must not move the cursor, colour the terminal or forge extra lines."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def table(rows: Sequence[Sequence[str]]) -> list[str]:
    """Rows as aligned columns, every cell escaped."""
    cells = [[printable(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    ]


class Result:
    """The base of every result (see the module docstring)."""

    __slots__ = ()

    #: the exit code
    code = 0
    #: people's output goes to stderr (a failure, or a cancelled cleanup)
    to_stderr = False
    #: remarks for people, written to stderr before the result (none under ``--json``)
    notes: tuple[str, ...] = ()

    @property
    def status(self) -> str:
        raise NotImplementedError

    @property
    def message(self) -> str:
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        return {}

    def document(self) -> object:
        return {"status": self.status} | self.to_dict() | {"message": self.message}

    def details(self, style: Style) -> list[str]:
        """Lines people see below the message."""
        return []

    def human(self, style: Style) -> str:
        return "\n".join([PREFIX + self.message, *self.details(style)]) + "\n"


@dataclass(frozen=True, slots=True)
class Allocated(Result):
    port: int
    metadata: Mapping[str, Any]
    owner_pid: int | None

    status = "allocated"

    @property
    def message(self) -> str:
        return f"Allocated port {self.port}."

    def to_dict(self) -> dict[str, Any]:
        return {"port": self.port, "metadata": dict(self.metadata), "owner_pid": self.owner_pid}


@dataclass(frozen=True, slots=True)
class GroupAllocated(Result):
    group: AllocationGroup

    status = "allocated"

    @property
    def message(self) -> str:
        return f"Allocated port group {self.group.group_id}."

    def to_dict(self) -> dict[str, Any]:
        return self.group.to_dict()

    def details(self, style: Style) -> list[str]:
        return [f"  {printable(role)}: {port}" for role, port in self.group.ports.items()]


@dataclass(frozen=True, slots=True)
class Released(Result):
    port: int
    released: bool

    @property
    def status(self) -> str:
        return "released" if self.released else "not_allocated"

    @property
    def message(self) -> str:
        if self.released:
            return f"Released port {self.port}."
        return f"Port {self.port} was not allocated; nothing to release."

    def to_dict(self) -> dict[str, Any]:
        return {"port": self.port, "released": self.released}


@dataclass(frozen=True, slots=True)
class GroupReleased(Result):
    group_id: str
    ports: Sequence[int]

    @property
    def status(self) -> str:
        return "released" if self.ports else "not_allocated"

    @property
    def message(self) -> str:
        if self.ports:
            return f"Released port group {self.group_id}: {', '.join(map(str, self.ports))}."
        return f"No port group {self.group_id} is allocated; nothing to release."

    def to_dict(self) -> dict[str, Any]:
        return {"group_id": self.group_id, "ports": list(self.ports)}


@dataclass(frozen=True, slots=True)
class Listing(Result):
    allocations: Sequence[Allocation]

    status = "ok"

    @property
    def message(self) -> str:
        count = len(self.allocations)
        return f"{count} allocation(s)." if count else "No ports are allocated."

    def document(self) -> object:
        return [a.to_dict() for a in self.allocations]

    def human(self, style: Style) -> str:
        if not self.allocations:
            return PREFIX + self.message + "\n"
        rows = [("PORT", "APP", "WORKTREE", "SERVICE/ROLE", "GROUP", "OWNER", "ALLOCATED (UTC)")]
        for a in self.allocations:
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
        return "\n".join(table(rows)) + "\n"


@dataclass(frozen=True, slots=True)
class Probed(Result):
    result: ProbeResult

    @property
    def status(self) -> str:
        return self.result.status.value

    @property
    def message(self) -> str:
        port = self.result.port
        if self.result.status.value == "denied":
            return f"Port {port} cannot be bound by this user (a privileged port)."
        return f"Port {port} is {'in use' if self.result.in_use else 'free'}."

    def to_dict(self) -> dict[str, Any]:
        return self.result.to_dict()


@dataclass(frozen=True, slots=True)
class Cleaned(Result):
    result: CleanupResult

    status = "cleaned"

    @property
    def message(self) -> str:
        return f"Cleaned up: released {self.result.released} allocation(s)."

    def to_dict(self) -> dict[str, Any]:
        return self.result.to_dict()


@dataclass(frozen=True, slots=True)
class Cancelled(Result):
    """The person at the terminal said no to a cleanup."""

    status = "cancelled"
    code = 1
    to_stderr = True
    message = "Cleanup cancelled; nothing was removed."


@dataclass(frozen=True, slots=True)
class Repaired(Result):
    registry: Path
    result: RepairResult

    @property
    def status(self) -> str:
        return "repaired" if self.result.repaired else "healthy"

    @property
    def message(self) -> str:
        if self.result.repaired:
            return (
                f"The registry {self.registry} was unusable ({self.result.reason}). "
                f"It was moved to {self.result.backup_path} and a fresh one was started."
            )
        return f"The registry {self.registry} is healthy; nothing to repair."

    def to_dict(self) -> dict[str, Any]:
        return {"registry": str(self.registry)} | self.result.to_dict()


_SOURCES = {
    "environment": "from $AIOPORTS_RANGE",
    "config": "saved in {config}",
    "default": "the built-in default",
}


@dataclass(frozen=True, slots=True)
class RangeShown(Result):
    """The default range; ``source`` is ``config`` (saved), ``environment`` or ``default``."""

    range: PortRange
    source: str
    config_path: Path
    changed: bool
    #: remarks for people, on stderr (``$AIOPORTS_RANGE`` overrides what was saved)
    notes: tuple[str, ...] = ()

    @property
    def status(self) -> str:
        return "range_set" if self.changed else "ok"

    @property
    def message(self) -> str:
        where = _SOURCES[self.source].format(config=self.config_path)
        verb = "is now" if self.changed else "is"
        return f"The default port range {verb} {self.range} ({where})."

    def to_dict(self) -> dict[str, Any]:
        return {
            "range": self.range.to_dict(),
            "source": self.source,
            "config_path": str(self.config_path),
        }


@dataclass(frozen=True, slots=True)
class Version(Result):
    version: str

    status = "ok"

    @property
    def message(self) -> str:
        return f"aioports {self.version}"

    def document(self) -> object:
        return {"status": "ok", "version": self.version}

    def human(self, style: Style) -> str:
        return self.message + "\n"
