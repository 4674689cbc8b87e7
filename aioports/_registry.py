"""The shared registry file: decoding, validation, atomic writes and locked transactions.

Format (schema version 1)::

    {"version": 1,
     "leases": {"3000": {"port": 3000, "allocated_at": "2026-11-26T10:00:00+00:00",
                         "metadata": {...}, "pid": 123, "hostname": "box",
                         "owner_pid": null, "owner_create_time": null,
                         "owner_token": null,
                         "group": null, "role": null}}}

Every change is a read-modify-write under the inter-process lock. The new document goes to
a temp file in the same folder, is flushed and fsynced, then renamed over the old one and
the folder is fsynced: a process killed at any instant leaves the old or the new registry,
never a torn one. Its temp file is then stray; the next writer removes it under the lock.
A file that does not decode is never overwritten.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import aiofiles
import aiofiles.os
import anyio
import anyio.to_thread
import orjson

from ._errors import PermissionDeniedError, RegistryCorruptError, RegistryError
from ._identity import ProcessIdentity, dead_owners
from ._lock import InterProcessLock
from ._models import Allocation, RepairResult

__all__ = ("SCHEMA_VERSION", "Leases", "Registry", "decode")

SCHEMA_VERSION = 1

_ENTRY_KEYS = frozenset(
    ("port", "allocated_at", "metadata", "pid", "hostname", "owner_pid",
     "owner_create_time", "owner_token", "group", "role")
)  # fmt: skip
_TEMP_SUFFIX = ".tmp"
# Below this size a registry decodes in less time than a worker-thread hop (about 85 us).
_INLINE_DECODE_BYTES = 16 * 1024

logger = logging.getLogger("aioports")

Entry = dict[str, Any]


class Leases:
    """The registry's entries during one transaction.

    Entries stay the validated JSON objects they were read as, and an :class:`Allocation` is
    built only when one is asked for: decoding and encoding a registry of thousands of
    entries then costs little more than orjson itself. Entries are replaced, never changed
    in place, so a cached copy of them stays true.
    """

    __slots__ = ("_entries",)

    def __init__(self, entries: dict[int, Entry] | None = None) -> None:
        self._entries: dict[int, Entry] = {} if entries is None else entries

    def __contains__(self, port: object) -> bool:
        return port in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Leases) and self._entries == other._entries

    __hash__ = None  # type: ignore[assignment]

    def copy(self) -> Leases:
        return Leases(dict(self._entries))

    def ports(self) -> list[int]:
        """Every allocated port, ascending."""
        return sorted(self._entries)

    def get(self, port: int) -> Allocation | None:
        entry = self._entries.get(port)
        return None if entry is None else _allocation(entry)

    def allocations(self) -> list[Allocation]:
        """Every allocation, by port."""
        return [_allocation(self._entries[port]) for port in sorted(self._entries)]

    def add(self, allocation: Allocation) -> None:
        self._entries[allocation.port] = allocation.to_dict()

    def pop(self, port: int) -> Allocation | None:
        entry = self._entries.pop(port, None)
        return None if entry is None else _allocation(entry)

    def clear(self) -> int:
        """Remove every entry; returns how many there were."""
        count = len(self._entries)
        self._entries.clear()
        return count

    def group_ports(self, group_id: str) -> list[int]:
        """The ports of one group, ascending."""
        return sorted(p for p, e in self._entries.items() if e.get("group") == group_id)

    def owners(self, hostname: str) -> set[ProcessIdentity]:
        """The ``(pid, create_time, token)`` owners of this host's owner-bound entries."""
        return {_owner(e) for e in self._entries.values() if _owned_here(e, hostname)}

    def drop_owned_by(self, owners: set[ProcessIdentity], hostname: str) -> int:
        """Remove this host's entries owned by ``owners``; returns how many went."""
        doomed = [
            port
            for port, e in self._entries.items()
            if _owned_here(e, hostname) and _owner(e) in owners
        ]
        for port in doomed:
            del self._entries[port]
        return len(doomed)

    def encode(self) -> bytes:
        """The registry document, ports in ascending order."""
        document = {
            "version": SCHEMA_VERSION,
            "leases": {str(port): self._entries[port] for port in sorted(self._entries)},
        }
        return orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)


def _owned_here(entry: Entry, hostname: str) -> bool:
    return entry.get("owner_pid") is not None and entry.get("hostname") == hostname


def _owner(entry: Entry) -> ProcessIdentity:
    return ProcessIdentity(
        entry["owner_pid"], float(entry["owner_create_time"]), entry.get("owner_token")
    )


def _allocation(entry: Entry) -> Allocation:
    owner_create_time = entry.get("owner_create_time")
    return Allocation(
        port=entry["port"],
        allocated_at=datetime.fromisoformat(entry["allocated_at"]),
        metadata=MappingProxyType(entry.get("metadata", {})),
        pid=entry.get("pid", 0),
        hostname=entry.get("hostname", ""),
        owner_pid=entry.get("owner_pid"),
        owner_create_time=None if owner_create_time is None else float(owner_create_time),
        owner_token=entry.get("owner_token"),
        group=entry.get("group"),
        role=entry.get("role"),
    )


def decode(data: bytes, path: Path) -> Leases:
    """Validate a registry document.

    :raises RegistryCorruptError: naming what is wrong, for anything but a version-1 registry.
    """
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
            f"{SCHEMA_VERSION})",
            newer=True,
        )
    raw_leases = document["leases"]
    if not isinstance(raw_leases, dict):
        raise RegistryCorruptError(path, "'leases' is not an object")
    entries: dict[int, Entry] = {}
    for key, raw in raw_leases.items():
        problem = _entry_problem(key, raw)
        if problem is not None:
            raise RegistryCorruptError(path, f"lease {key!r} {problem}")
        entries[raw["port"]] = raw
    return Leases(entries)


def _entry_problem(key: str, raw: Any) -> str | None:
    """What is wrong with one entry, or None."""
    if not isinstance(raw, dict):
        return "is not an object"
    if "port" not in raw or "allocated_at" not in raw:
        return "lacks port or allocated_at"
    if not _ENTRY_KEYS.issuperset(raw):
        return f"has unknown fields {sorted(set(raw) - _ENTRY_KEYS)}"
    port = raw["port"]
    if not _is_int(port) or not 1 <= port <= 65535 or key != str(port):
        return f"has an invalid port {port!r}"
    try:
        datetime.fromisoformat(raw["allocated_at"])
    except (TypeError, ValueError):
        return "has an invalid allocated_at"
    owner_pid = raw.get("owner_pid")
    owner_create_time = raw.get("owner_create_time")
    owner_token = raw.get("owner_token")
    group = raw.get("group")
    role = raw.get("role")
    if (
        isinstance(raw.get("metadata", {}), dict)
        and _is_int(raw.get("pid", 0))
        and isinstance(raw.get("hostname", ""), str)
        and (owner_pid is None or _is_int(owner_pid))
        and (owner_create_time is None or isinstance(owner_create_time, (int, float)))
        and (owner_pid is None) == (owner_create_time is None)
        and (owner_token is None or isinstance(owner_token, str))
        and (group is None or isinstance(group, str))
        and (role is None or isinstance(role, str))
    ):
        return None
    return "has a field of the wrong type"


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_our_temp(name: str, prefix: str) -> bool:
    """Whether ``name`` is a temp file of this registry (``.<name>.<pid>-<8 hex>.tmp``), not
    one of another registry in the same folder whose name merely starts the same way."""
    if not (name.startswith(prefix) and name.endswith(_TEMP_SUFFIX)):
        return False
    pid, _, token = name[len(prefix) : -len(_TEMP_SUFFIX)].partition("-")
    return pid.isdigit() and len(token) == 8 and all(c in "0123456789abcdef" for c in token)


def _fsync_folder(folder: Path) -> None:
    if os.name != "posix":  # pragma: no cover - Windows cannot open a folder to fsync it
        return
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _private_opener(path: str, flags: int) -> int:
    return os.open(path, flags, 0o600)


class Registry:
    """One registry file plus its lock; every read and write goes through :meth:`transaction`."""

    __slots__ = (
        "_file_lock", "_last", "_lock_timeout", "_path", "_poll_interval", "_task_lock", "hostname"
    )  # fmt: skip

    def __init__(self, path: Path, *, lock_timeout: float, poll_interval: float) -> None:
        self._path = path
        self._lock_timeout = lock_timeout
        self._poll_interval = poll_interval
        self._task_lock = anyio.Lock()
        self._file_lock = InterProcessLock(path.with_name(path.name + ".lock"))
        self.hostname = socket.gethostname()
        self._last: tuple[bytes, Leases] | None = None

    @property
    def path(self) -> Path:
        return self._path

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Leases]:
        """Hold the registry exclusively and yield its live leases for reading and changing.

        Leases whose owner process is provably gone are dropped first. On a clean exit the
        file is rewritten if anything changed; on an exception nothing is written.
        """
        async with self._exclusive():
            stored = await self._load()
            leases = stored.copy()
            owners = leases.owners(self.hostname)
            if owners:
                dead = await anyio.to_thread.run_sync(dead_owners, owners)
                if dead:
                    leases.drop_owned_by(dead, self.hostname)
            yield leases
            if leases != stored:
                # Once the change is decided it is written out whole: a cancellation waits
                # for the rename instead of abandoning a half-done write.
                with anyio.CancelScope(shield=True):
                    await self._store(leases)

    async def repair(self) -> RepairResult:
        """Move an unusable registry aside to a timestamped backup and start an empty one."""
        async with self._exclusive():
            try:
                data = await self._read()
                if data is None:
                    return RepairResult(repaired=False)
                decode(data, self._path)
            except RegistryCorruptError as exc:  # a folder in its place, too
                reason = exc.reason
            else:
                return RepairResult(repaired=False)
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            backup = self._path.with_name(f"{self._path.name}.corrupt-{stamp}")
            counter = 1
            while await aiofiles.os.path.exists(backup):
                counter += 1
                backup = self._path.with_name(f"{self._path.name}.corrupt-{stamp}-{counter}")
            await aiofiles.os.rename(self._path, backup)
            await self._store(Leases())
            logger.debug("registry %s moved aside to %s: %s", self._path, backup, reason)
            return RepairResult(repaired=True, backup_path=str(backup), reason=reason)

    @contextlib.asynccontextmanager
    async def _exclusive(self) -> AsyncIterator[None]:
        async with self._task_lock:
            await self._ensure_folder()
            await self._file_lock.acquire(
                lock_timeout=self._lock_timeout,
                poll_interval=self._poll_interval,
                registry=self._path,
            )
            try:
                yield
            finally:
                self._file_lock.release()

    async def _ensure_folder(self) -> None:
        try:
            await aiofiles.os.makedirs(self._path.parent, mode=0o700, exist_ok=True)
        except PermissionError as exc:
            raise PermissionDeniedError(
                f"cannot create the registry folder {self._path.parent}: {exc.strerror}"
            ) from exc
        except OSError as exc:
            raise RegistryError(
                self._path, f"cannot create the registry folder {self._path.parent}: {exc.strerror}"
            ) from exc

    async def _read(self) -> bytes | None:
        try:
            async with aiofiles.open(self._path, "rb") as file:
                return await file.read()
        except FileNotFoundError:
            return None
        except PermissionError as exc:
            raise PermissionDeniedError(
                f"cannot read the registry {self._path}: {exc.strerror}"
            ) from exc
        except IsADirectoryError as exc:
            raise RegistryCorruptError(self._path, "it is a folder, not a file") from exc
        except OSError as exc:
            raise RegistryError(
                self._path, f"cannot read the registry {self._path}: {exc.strerror}"
            ) from exc

    async def _load(self) -> Leases:
        data = await self._read()
        if data is None:
            return Leases()
        # The bytes this process last read or wrote decode to what it kept: skip the work.
        if self._last is not None and self._last[0] == data:
            return self._last[1].copy()
        if len(data) < _INLINE_DECODE_BYTES:
            leases = decode(data, self._path)
        else:
            # Parsing thousands of entries takes milliseconds: keep the event loop free.
            leases = await anyio.to_thread.run_sync(decode, data, self._path)
        self._last = (data, leases.copy())
        return leases

    async def _store(self, leases: Leases) -> None:
        data = leases.encode()
        folder = self._path.parent
        prefix = f".{self._path.name}."
        temp = folder / f"{prefix}{os.getpid()}-{os.urandom(4).hex()}{_TEMP_SUFFIX}"
        try:
            # Temp files left by writers that died mid-write; only lock holders write them.
            for name in await aiofiles.os.listdir(folder):
                if _is_our_temp(name, prefix):
                    with contextlib.suppress(FileNotFoundError):
                        await aiofiles.os.unlink(folder / name)
            try:
                async with aiofiles.open(temp, "xb", opener=_private_opener) as file:
                    await file.write(data)
                    await file.flush()
                    await anyio.to_thread.run_sync(os.fsync, file.fileno())
                await aiofiles.os.replace(temp, self._path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
                raise
            await anyio.to_thread.run_sync(_fsync_folder, folder)
            self._last = (data, leases.copy())
        except PermissionError as exc:
            raise PermissionDeniedError(
                f"cannot write the registry {self._path}: {exc.strerror}"
            ) from exc
        except OSError as exc:
            raise RegistryError(
                self._path, f"cannot write the registry {self._path}: {exc.strerror}"
            ) from exc
