"""The registry document, without I/O: its entries, how they are validated, decoded, encoded.

Format (schema version 2; compact JSON on disk, ``aioports list`` is the readable view)::

    {"version": 2,
     "leases": {"3000": {"port": 3000, "allocated_at": "2026-11-26T10:00:00+00:00",
                         "metadata": {...}, "pid": 123, "hostname": "box",
                         "owner_pid": null, "owner_create_time": null,
                         "owner_token": null, "group": null, "role": null,
                         "app": null, "worktree": null, "service": null,
                         "owner_pidns": null}}}

An entry's fields are those of :class:`~aioports.Allocation`: the set of keys, the record
built from an entry and the validation all follow from the record. Version 2 added the key
of named ports (``app``, ``worktree``, ``service``) and ``owner_pidns``; a version-1 file is
read as it is (its entries are one-shot allocations: the new fields are null) and written
back as version 2 on its next change.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import orjson

from ._errors import RegistryCorruptError
from ._host import Place
from ._models import Allocation, PortKey, ProcessIdentity
from ._records import fields

__all__ = (
    "ENTRY_FIELDS",
    "MAX_METADATA_DEPTH",
    "SCHEMA_VERSION",
    "Entries",
    "Entry",
    "decode",
    "salvage",
)

SCHEMA_VERSION = 2
#: the fields version 1 knew: a version-1 file with any other field is not one aioports wrote
_V1_FIELDS = frozenset(
    ("port", "allocated_at", "metadata", "pid", "hostname", "owner_pid", "owner_create_time",
     "owner_token", "group", "role")
)  # fmt: skip
_KEY_FIELDS = ("app", "worktree", "service")

Entry = dict[str, Any]

_FIELDS = fields(Allocation)
#: the keys an entry may have, in the record's order
ENTRY_FIELDS = tuple(f.name for f in _FIELDS)
_REQUIRED = frozenset(f.name for f in _FIELDS if f.required)
_KNOWN = frozenset(ENTRY_FIELDS)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_bool(value: object) -> bool:
    return isinstance(value, bool)


def _is_timestamp(value: object) -> bool:
    try:
        datetime.fromisoformat(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return True


def _optional(check: Callable[[object], bool]) -> Callable[[object], bool]:
    return lambda value: value is None or check(value)


#: how each field of an entry is checked; a test keeps its keys equal to ENTRY_FIELDS
#: how deep metadata may nest: orjson cannot write past 254 levels, and no caller needs 32
MAX_METADATA_DEPTH = 32


def _depth(value: object, limit: int) -> int:
    """How deep ``value`` nests, counted up to ``limit + 1`` at most."""
    if limit < 0:
        return 1
    if isinstance(value, dict):
        return 1 + max((_depth(v, limit - 1) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v, limit - 1) for v in value), default=0)
    return 0


def is_metadata(value: object) -> bool:
    return isinstance(value, dict) and _depth(value, MAX_METADATA_DEPTH) <= MAX_METADATA_DEPTH


#: the longest part of a port's key: a worktree is a path, and PATH_MAX is 4096
MAX_KEY_PART = 4096


def is_key_part(value: object) -> bool:
    """Text that can name an app, worktree or service: not empty, no control characters."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= MAX_KEY_PART
        and value.isprintable()
        and value.strip() == value
    )


def _is_start_time(value: object) -> bool:
    return isinstance(value, int | float) and not _is_bool(value) and 0 <= value < math.inf


#: how each field of an entry is checked; a test keeps its keys equal to ENTRY_FIELDS
CHECKS: dict[str, Callable[[object], bool]] = {
    "port": lambda v: _is_int(v) and 1 <= v <= 65535,  # type: ignore[operator]
    "allocated_at": _is_timestamp,
    "metadata": is_metadata,
    "pid": lambda v: _is_int(v) and v >= 0,  # type: ignore[operator]
    "hostname": lambda v: isinstance(v, str),
    "owner_pid": _optional(lambda v: _is_int(v) and v >= 1),  # type: ignore[operator]
    "owner_create_time": _optional(_is_start_time),
    "owner_token": _optional(lambda v: isinstance(v, str)),
    "group": _optional(lambda v: isinstance(v, str)),
    "role": _optional(lambda v: isinstance(v, str)),
    "app": _optional(is_key_part),
    "worktree": _optional(is_key_part),
    "service": _optional(is_key_part),
    "owner_pidns": _optional(lambda v: isinstance(v, str)),
}

#: how a stored value becomes the record's value, where the two differ
_TO_RECORD: dict[str, Callable[[Any], Any]] = {
    "allocated_at": datetime.fromisoformat,
    "metadata": MappingProxyType,
    "owner_create_time": lambda v: None if v is None else float(v),
}


def entry_of(allocation: Allocation) -> Entry:
    """The JSON object that records ``allocation``."""
    return allocation.to_dict()


def allocation_of(entry: Entry) -> Allocation:
    """The record of a validated entry; absent optional fields take their defaults."""
    values = {}
    for name, value in entry.items():
        convert = _TO_RECORD.get(name)
        values[name] = value if convert is None else convert(value)
    return Allocation(**values)


def entry_problem(key: str, raw: Any, version: int = SCHEMA_VERSION) -> str | None:
    """What is wrong with one entry stored under ``key`` in a document of ``version``, or None."""
    if not isinstance(raw, dict):
        return "is not an object"
    if not _REQUIRED.issubset(raw):
        return f"lacks {' or '.join(f for f in ENTRY_FIELDS if f in _REQUIRED)}"
    known = _V1_FIELDS if version == 1 else _KNOWN
    if not known.issuperset(raw):
        return f"has unknown fields {sorted(set(raw) - known)}"
    port = raw["port"]
    if not CHECKS["port"](port) or key != str(port):
        return f"has an invalid port {port!r}"
    if not CHECKS["allocated_at"](raw["allocated_at"]):
        return "has an invalid allocated_at"
    wrong = [name for name, value in raw.items() if not CHECKS[name](value)]
    if wrong:
        return f"has an invalid {', '.join(wrong)}"
    if (raw.get("owner_pid") is None) != (raw.get("owner_create_time") is None):
        return "has an owner_pid without owner_create_time (or the reverse)"
    named = [raw.get(name) is not None for name in _KEY_FIELDS]
    if any(named) and not all(named):
        return "has part of a key: app, worktree and service are set together or not at all"
    return None


class Entries:
    """The registry's entries during one transaction.

    Entries stay the validated JSON objects they were read as, and an :class:`Allocation` is
    built only when one is asked for: decoding and encoding a registry of thousands of
    entries then costs little more than orjson itself. Entries are replaced, never changed
    in place, so a cached copy of them stays true.
    """

    __slots__ = ("_entries", "reclaimed")

    def __init__(self, entries: dict[int, Entry] | None = None) -> None:
        self._entries: dict[int, Entry] = {} if entries is None else entries
        #: the entries this transaction dropped on opening because their owners are gone
        self.reclaimed: list[Allocation] = []

    def __contains__(self, port: object) -> bool:
        return port in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Entries) and self._entries == other._entries

    __hash__ = None  # type: ignore[assignment]

    def copy(self) -> Entries:
        return Entries(dict(self._entries))

    def ports(self) -> list[int]:
        """Every allocated port, ascending."""
        return sorted(self._entries)

    def get(self, port: int) -> Allocation | None:
        entry = self._entries.get(port)
        return None if entry is None else allocation_of(entry)

    def allocations(self) -> list[Allocation]:
        """Every allocation, by port."""
        return [allocation_of(self._entries[port]) for port in sorted(self._entries)]

    def add(self, allocation: Allocation) -> None:
        self._entries[allocation.port] = entry_of(allocation)

    def pop(self, port: int) -> Allocation | None:
        entry = self._entries.pop(port, None)
        return None if entry is None else allocation_of(entry)

    def clear(self) -> int:
        """Remove every entry; returns how many there were."""
        count = len(self._entries)
        self._entries.clear()
        return count

    def group_ports(self, group_id: str) -> list[int]:
        """The ports of one group, ascending."""
        return sorted(p for p, e in self._entries.items() if e.get("group") == group_id)

    def named(self, key: PortKey) -> Allocation | None:
        """The named port recorded for ``key``, if any."""
        for entry in self._entries.values():
            if (
                entry.get("service") == key.service
                and entry.get("worktree") == key.worktree
                and entry.get("app") == key.app
            ):
                return allocation_of(entry)
        return None

    def owners(self, here: Place) -> set[ProcessIdentity]:
        """The owner processes of the owner-bound entries whose PIDs mean something here."""
        return {_owner(e) for e in self._entries.values() if _owned_here(e, here)}

    def owned_by(self, owners: set[ProcessIdentity], here: Place) -> list[int]:
        """The ports of the entries (whose PIDs mean something here) owned by ``owners``."""
        return sorted(
            port
            for port, e in self._entries.items()
            if _owned_here(e, here) and _owner(e) in owners
        )

    def drop_owned_by(self, owners: set[ProcessIdentity], here: Place) -> int:
        """Remove the entries owned by ``owners`` (see :meth:`owned_by`) and keep them in
        :attr:`reclaimed`; returns how many went."""
        doomed = self.owned_by(owners, here)
        for port in doomed:
            self.reclaimed.append(allocation_of(self._entries.pop(port)))
        return len(doomed)

    def encode(self) -> bytes:
        """The registry document, ports in ascending order, compact (a third of the indented
        size, and 2.5x faster to encode)."""
        document = {
            "version": SCHEMA_VERSION,
            "leases": {str(port): self._entries[port] for port in sorted(self._entries)},
        }
        return orjson.dumps(document, option=orjson.OPT_APPEND_NEWLINE)


def _owned_here(entry: Entry, here: Place) -> bool:
    """Whether the entry's owner PID names a process this process can look at: the same
    host, and the same PID namespace where both are known (a file from before version 2
    knows none)."""
    if entry.get("owner_pid") is None or entry.get("hostname") != here.hostname:
        return False
    namespace = entry.get("owner_pidns")
    return namespace is None or here.pid_namespace is None or namespace == here.pid_namespace


def _owner(entry: Entry) -> ProcessIdentity:
    return ProcessIdentity(
        entry["owner_pid"], float(entry["owner_create_time"]), entry.get("owner_token")
    )


def decode(data: bytes, path: Path, known: Entries | None = None) -> Entries:
    """Validate a registry document.

    :param known: entries validated before (what this process last read or wrote); an entry
        equal to its known twin needs no second check, so a registry of thousands that another
        process changed by one entry costs little more than the parse
    :raises RegistryCorruptError: naming what is wrong, for anything but a version-1 registry.
    """
    entries, problems = _walk(data, path, known, stop_at_first=True)
    if problems:
        key, problem = problems[0]
        raise RegistryCorruptError(path, f"lease {key!r} {problem}")
    return entries


def salvage(data: bytes, path: Path) -> tuple[Entries, list[tuple[str, str]]]:
    """The valid entries of a registry document with bad ones, and ``(key, problem)`` for
    each bad one: what ``repair`` keeps and what it sets aside.

    :raises RegistryCorruptError: when the document itself is unusable (nothing to keep).
    """
    return _walk(data, path, None, stop_at_first=False)


def _walk(
    data: bytes, path: Path, known: Entries | None, *, stop_at_first: bool
) -> tuple[Entries, list[tuple[str, str]]]:
    if not data.strip():
        raise RegistryCorruptError(path, "the file is empty")
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise RegistryCorruptError(path, f"not valid JSON ({exc})") from exc
    if not isinstance(document, dict) or "version" not in document or "leases" not in document:
        raise RegistryCorruptError(
            path, "not an aioports registry (expected an object with 'version' and 'leases')"
        )
    version = document["version"]
    if not _is_int(version) or version < 1:
        raise RegistryCorruptError(path, f"invalid schema version {version!r}")
    if version > SCHEMA_VERSION:
        raise RegistryCorruptError(
            path,
            f"written by a newer aioports (schema version {version}; this one reads "
            f"up to {SCHEMA_VERSION})",
            newer=True,
        )
    raw_entries = document["leases"]
    if not isinstance(raw_entries, dict):
        raise RegistryCorruptError(path, "'leases' is not an object")
    checked = {} if known is None else {str(port): e for port, e in known._entries.items()}
    entries: dict[int, Entry] = {}
    problems: list[tuple[str, str]] = []
    for key, raw in raw_entries.items():
        twin = checked.get(key)
        if twin is None or twin != raw:
            problem = entry_problem(key, raw, version)
            if problem is not None:
                problems.append((key, problem))
                if stop_at_first:
                    break
                continue
        entries[raw["port"]] = raw
    return Entries(entries), problems
