"""What handlers return: one result object per run, rendered for people and for ``--json``
from the same fields and the same sentence.

A result has ``status``, ``message`` (the one sentence both outputs show), ``to_dict()``
(its facts), ``code`` (the exit code) and, for the commands that take ``-q``, ``quiet()``
(only its value). The JSON document is
``{"status": ..., **to_dict(), "message": ...}`` unless ``document()`` says otherwise (a
listing is a bare array); people see ``aioports: <message>`` and any ``details()`` lines,
on stderr when ``to_stderr`` is set.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path
    from typing import Any, TextIO

    from .. import Allocation, AllocationGroup, CleanupResult, PortRange, ProbeResult, RepairResult
    from .._named import Selection

__all__ = (
    "EXIT_DENIED",
    "EXIT_IN_USE",
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
    "ReleasedPicked",
    "Repaired",
    "Result",
    "Style",
    "Version",
    "allocated_line",
    "printable",
    "table",
    "warned",
    "write_all",
)

PREFIX = "aioports: "
#: ``probe``'s answer "a socket holds the port", distinct from every error's code
EXIT_IN_USE = 3
#: ``probe``'s answer "this user may not bind the port" (a privileged port)
EXIT_DENIED = 4


class Style:
    """How people's output may look: colour (a terminal without ``NO_COLOR``) and emoji
    (such a terminal that also speaks UTF-8)."""

    __slots__ = ("colour", "emoji")

    def __init__(self, colour: bool = False, emoji: bool = False) -> None:
        self.colour, self.emoji = colour, emoji


def printable(text: str) -> str:
    """``text`` with control characters escaped (``\\x1b``, ``\\n``): a value from the
    registry must not move the cursor, colour the terminal or forge extra lines."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


#: the widest a table cell is shown: a 10,000-character app name must not pad every row
MAX_CELL = 60


def cell(value: object) -> str:
    """A metadata value as people see it: ``-`` for none, text as it is, anything else as
    compact JSON (``["a","b"]``, ``true``), never a Python repr."""
    if value is None or value == "":
        return "-"
    if isinstance(value, str):
        return value
    import orjson

    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return str(value)


def _cut(text: str) -> str:
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 3] + "..."


def table(rows: Sequence[Sequence[str]]) -> list[str]:
    """Rows as aligned columns, every cell escaped and cut to :data:`MAX_CELL` characters."""
    cells = [[_cut(printable(cell)) for cell in row] for row in rows]
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

    def _names(self) -> tuple[str, ...]:
        names: tuple[str, ...] = type(self).__slots__
        return names

    def _fields(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self._names())

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Result)
            and type(other) is type(self)
            and (self._fields() == other._fields())
        )

    def __hash__(self) -> int:
        return hash((type(self), self._fields()))

    def __repr__(self) -> str:
        shown = ", ".join(f"{n}={getattr(self, n)!r}" for n in self._names())
        return f"{type(self).__name__}({shown})"

    def document(self) -> object:
        return {"status": self.status} | self.to_dict() | {"message": self.message}

    def details(self, style: Style) -> list[str]:
        """Lines people see below the message."""
        return []

    def human(self, style: Style) -> str:
        # Escaped: a message may carry what the user typed (a group id, say) or the registry holds.
        return "\n".join([PREFIX + printable(self.message), *self.details(style)]) + "\n"

    def quiet(self) -> str:
        """What ``-q`` prints: only the value, one per line (the parser lets ``-q`` through
        only for the commands the table marks as having one)."""
        return ""

    def show(self, out: TextIO, err: TextIO, style: Style, *, quiet: bool = False) -> None:
        """Write people's output: the notes and the result, or with ``quiet`` only its value
        (a failure still says what went wrong, on stderr)."""
        for note in self.notes:  # on stderr: $(aioports port -q) still gets only the value
            err.write(f"{PREFIX}{note}\n")
        if quiet and not self.to_stderr:
            write_all(out, self.quiet())
            return
        write_all(err if self.to_stderr else out, self.human(style))


def write_all(stream: TextIO, text: str | bytes) -> None:
    """Write all of ``text`` (bytes go to the stream's buffer as they are).

    A write to a pipe whose reader has gone (``aioports list | head -1``) can return short
    instead of failing, and the text layer drops the rest without a word; writing the bytes
    until all are taken makes the next write raise BrokenPipeError, so the run exits 1.
    """
    buffer = getattr(stream, "buffer", None)
    if buffer is None:
        stream.write(text if isinstance(text, str) else text.decode())
        return
    if isinstance(text, str):
        text = text.encode(stream.encoding or "utf-8", stream.errors or "strict")
    stream.flush()  # anything written as text before goes first
    view = memoryview(text)
    while view:
        view = view[buffer.write(view) :]
    buffer.flush()


class Warned(Result):
    """A result with warnings about the ports it chose (``_hygiene``): one stderr line each
    for people, a ``warnings`` list in the JSON document."""

    __slots__ = ("notes", "result")

    def __init__(self, result: Result, warnings: Sequence[str]) -> None:
        self.result, self.notes = result, (*result.notes, *warnings)

    @property
    def code(self) -> int:  # type: ignore[override]
        return self.result.code

    @property
    def to_stderr(self) -> bool:  # type: ignore[override]
        return self.result.to_stderr

    @property
    def status(self) -> str:
        return self.result.status

    @property
    def message(self) -> str:
        return self.result.message

    def to_dict(self) -> dict[str, Any]:
        return self.result.to_dict()

    def document(self) -> object:
        document = self.result.document()
        if self.notes and isinstance(document, dict):
            message = document.pop("message")
            document |= {"warnings": list(self.notes), "message": message}
        return document

    def human(self, style: Style) -> str:
        return self.result.human(style)

    def quiet(self) -> str:
        return self.result.quiet()


def warned(result: Result, warnings: Sequence[str]) -> Result:
    """``result`` with ``warnings``, or as it is when there are none."""
    return Warned(result, warnings) if warnings else result


def allocated_line(allocation: Allocation) -> str:
    """One line for people about a port's registry entry: what it is for, and who made it."""
    named = allocation.key is not None  # a named port's key, else its metadata
    meta = allocation.to_dict() if named else allocation.metadata
    parts = [f"{key} {cell(meta[key])}" for key in ("app", "worktree", "service") if key in meta]
    if allocation.role is not None:
        parts.append(f"role {allocation.role} of group {allocation.group}")
    what = f" to {', '.join(parts)}" if parts else ""
    owner = (
        "" if allocation.owner_pid is None else f", released when PID {allocation.owner_pid} exits"
    )
    when = allocation.allocated_at.strftime("%Y-%m-%d %H:%M:%S")
    return printable(f"Allocated{what} (by PID {allocation.pid} at {when} UTC{owner}).")


class Recorded(Result):
    """A result that wraps one library record: its facts are the record's ``to_dict()``."""

    __slots__ = ("record",)

    def __init__(self, record: Any) -> None:
        self.record = record

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = self.record.to_dict()
        return result


class Allocated(Result):
    __slots__ = ("metadata", "owner_pid", "port")

    def __init__(self, port: int, metadata: Mapping[str, Any], owner_pid: int | None) -> None:
        self.port, self.metadata, self.owner_pid = port, metadata, owner_pid

    status = "allocated"

    @property
    def message(self) -> str:
        return f"Allocated port {self.port}."

    def to_dict(self) -> dict[str, Any]:
        return {"port": self.port, "metadata": dict(self.metadata), "owner_pid": self.owner_pid}

    def quiet(self) -> str:
        return f"{self.port}\n"


class GroupAllocated(Recorded):
    record: AllocationGroup
    status = "allocated"

    @property
    def message(self) -> str:
        return f"Allocated port group {self.record.group_id}."

    def details(self, style: Style) -> list[str]:
        return [f"  {printable(role)}: {port}" for role, port in self.record.ports.items()]

    def quiet(self) -> str:
        return "".join(f"{printable(role)}={port}\n" for role, port in self.record.ports.items())


class Released(Result):
    """``release PORT``; :class:`GroupReleased` shares its statuses."""

    __slots__ = ("port", "released")

    def __init__(self, port: int, released: bool) -> None:
        self.port, self.released = port, released

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


class ReleasedPicked(Result):
    """``release --app A``: every entry the filter picked."""

    __slots__ = ("ports", "selection")

    def __init__(self, selection: Selection, ports: Sequence[int]) -> None:
        self.selection, self.ports = selection, list(ports)

    @property
    def status(self) -> str:
        return "released" if self.ports else "not_allocated"

    def _what(self) -> str:
        parts = [f"--{name} {value}" for name, value in self.selection.to_dict().items() if value]
        return " ".join(parts)

    @property
    def message(self) -> str:
        if self.ports:
            return f"Released {', '.join(map(str, self.ports))} ({self._what()})."
        return f"No allocation matches {self._what()}; nothing to release."

    def to_dict(self) -> dict[str, Any]:
        return {
            "ports": self.ports,
            "released": bool(self.ports),
            "picked": self.selection.to_dict(),
        }


class GroupReleased(Released):
    __slots__ = ("group_id", "ports")

    def __init__(self, group_id: str, ports: Sequence[int]) -> None:
        super().__init__(ports[0] if ports else 0, bool(ports))
        self.group_id, self.ports = group_id, ports

    @property
    def message(self) -> str:
        if self.released:
            return f"Released port group {self.group_id}: {', '.join(map(str, self.ports))}."
        return f"No port group {self.group_id} is allocated; nothing to release."

    def to_dict(self) -> dict[str, Any]:
        return {"group_id": self.group_id, "ports": list(self.ports)}


class Listing(Recorded):
    """Every allocation: the document is a bare array (the dashboard's rows too)."""

    record: Sequence[Allocation]
    status = "ok"

    @property
    def message(self) -> str:
        count = len(self.record)
        return f"{count} allocation(s)." if count else "No ports are allocated."

    def document(self) -> object:
        return [entry.to_dict() for entry in self.record]

    def human(self, style: Style) -> str:
        if not self.record:
            return PREFIX + self.message + "\n"
        rows = [("PORT", "APP", "WORKTREE", "SERVICE/ROLE", "GROUP", "OWNER", "ALLOCATED (UTC)")]
        for a in self.record:
            app, worktree, service = a.parts
            rows.append(
                (
                    str(a.port),
                    cell(app),
                    cell(worktree),
                    a.role or cell(service),
                    a.group or "-",
                    "-" if a.owner_pid is None else str(a.owner_pid),
                    a.allocated_at.strftime("%Y-%m-%d %H:%M:%S"),
                )
            )
        return "\n".join(table(rows)) + "\n"


class Probed(Recorded):
    """A probe; ``allocation`` is the port's registry entry when it has one (a free port may
    still be promised to another worktree's server)."""

    __slots__ = ("allocation",)

    record: ProbeResult

    def __init__(self, record: ProbeResult, allocation: Allocation | None = None) -> None:
        super().__init__(record)
        self.allocation = allocation

    @property
    def status(self) -> str:
        return self.record.status.value

    @property
    def code(self) -> int:  # type: ignore[override]
        # ``if aioports probe 3000; then``: 0 only when a server could start there.
        return {"free": 0, "in_use": EXIT_IN_USE}.get(self.status, EXIT_DENIED)

    @property
    def message(self) -> str:
        port = self.record.port
        if self.record.status.value == "denied":
            return f"Port {port} cannot be bound by this user (a privileged port)."
        return f"Port {port} is {'in use' if self.record.in_use else 'free'}."

    def details(self, style: Style) -> list[str]:
        return [] if self.allocation is None else [allocated_line(self.allocation)]

    def to_dict(self) -> dict[str, Any]:
        found = {} if self.allocation is None else {"allocation": self.allocation.to_dict()}
        return super().to_dict() | found


class Cleaned(Recorded):
    record: CleanupResult
    status = "cleaned"

    @property
    def message(self) -> str:
        return f"Cleaned up: released {self.record.released} allocation(s)."


class Cancelled(Result):
    """A cleanup that did not happen: the person at the terminal said no, or there was no
    terminal to ask and no ``--yes``."""

    __slots__ = ("asked",)

    code = 1
    to_stderr = True

    def __init__(self, *, asked: bool) -> None:
        self.asked = asked

    @property
    def status(self) -> str:
        return "cancelled" if self.asked else "refused"

    @property
    def message(self) -> str:
        if self.asked:
            return "Cleanup cancelled; nothing was removed."
        return (
            "cleanup removes allocations of every worktree, live test leases included, and "
            "there is no terminal to ask: add --yes (aioports cleanup --yes); nothing was removed."
        )

    def to_dict(self) -> dict[str, Any]:
        return {"hint": "aioports cleanup --yes"}


class Repaired(Result):
    __slots__ = ("registry", "result")

    def __init__(self, registry: Path, result: RepairResult) -> None:
        self.registry, self.result = registry, result

    @property
    def status(self) -> str:
        return "repaired" if self.result.repaired else "healthy"

    @property
    def message(self) -> str:
        result = self.result
        if result.repaired and result.dropped:
            return (
                f"The registry {self.registry} was unusable ({result.reason}). It was moved "
                f"to {result.backup_path}; the new registry keeps its {result.kept} valid "
                f"entries and sets aside {', '.join(result.dropped)} (still in the backup)."
            )
        if result.repaired:
            return (
                f"The registry {self.registry} was unusable ({result.reason}). "
                f"It was moved to {result.backup_path} and a fresh one was started."
            )
        return f"The registry {self.registry} is healthy; nothing to repair."

    def to_dict(self) -> dict[str, Any]:
        return {"registry": str(self.registry)} | self.result.to_dict()


_SOURCES = {
    "environment": "from $AIOPORTS_RANGE",
    "config": "saved in {config}",
    "default": "the built-in default",
}


class RangeShown(Result):
    """The default range; ``source`` is ``config`` (saved), ``environment`` or ``default``."""

    __slots__ = ("changed", "config_path", "notes", "range", "source")

    def __init__(
        self,
        range: PortRange,
        source: str,
        config_path: Path,
        changed: bool,
        notes: tuple[str, ...] = (),
    ) -> None:
        self.range, self.source, self.config_path, self.changed, self.notes = (
            range,
            source,
            config_path,
            changed,
            notes,
        )

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

    def quiet(self) -> str:
        return f"{self.range}\n"


class Version(Result):
    __slots__ = ("version",)

    def __init__(self, version: str) -> None:
        self.version = version

    status = "ok"

    @property
    def message(self) -> str:
        return f"aioports {self.version}"

    def document(self) -> object:
        return {"status": "ok", "version": self.version}

    def human(self, style: Style) -> str:
        return self.message + "\n"
