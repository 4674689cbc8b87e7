"""The async shell of the registry: ``PortManager``'s transactions, with aiofiles file I/O.

The deciding is :class:`~aioports._transaction.RegistryCore`'s; this shell only moves bytes,
without ever blocking the event loop. Per writing transaction it makes 8 worker-thread hops:
the lock (1), reading the file with aiofiles (open, read, close: 3), writing the temp file
with aiofiles (open, write, close: 3) and the commit (sweep stray temp files, rename, fsync
the folder: 1); a read-only transaction makes 4. Checking owner processes adds one hop,
only when owner-bound entries exist.

Every manager of this process that uses the same registry file on the same event loop
queues on one lock, in order: a thousand managers wait their turn instead of timing out.
"""

from __future__ import annotations

import contextlib
import os
import weakref
from collections.abc import AsyncIterator
from pathlib import Path

import aiofiles
import anyio
import anyio.to_thread

from . import _lock, _log
from ._entries import Entries, decode
from ._errors import RegistryCorruptError, RegistryError
from ._models import RepairResult
from ._registry_sync import (
    commit,
    io_error,
    move_aside,
    open_for_reading,
    open_temp,
    read_error,
    refusal,
)
from ._steps import drive_async
from ._transaction import Diagnosis, RegistryCore

__all__ = ("Registry", "decode")

# One task lock per event loop and registry file, shared by every manager on that loop.
_TASK_LOCKS: weakref.WeakKeyDictionary[object, dict[Path, anyio.Lock]] = weakref.WeakKeyDictionary()


def _task_lock(path: Path) -> anyio.Lock:
    import asyncio

    locks = _TASK_LOCKS.setdefault(asyncio.get_running_loop(), {})
    lock = locks.get(path)
    if lock is None:
        lock = locks[path] = anyio.Lock()
    return lock


class Registry:
    """One registry file for async callers; every read and write goes through
    :meth:`transaction`."""

    __slots__ = ("_core", "_lock_timeout", "_poll_interval", "_shared")

    def __init__(
        self, path: Path, *, lock_timeout: float, poll_interval: float, shared: bool = False
    ) -> None:
        """:param shared: the user chose this path explicitly, so a sticky shared folder is
        allowed (see ``_lock._check_ownership``)"""
        self._core = RegistryCore(path)
        self._shared = shared
        self._lock_timeout = lock_timeout
        self._poll_interval = poll_interval

    @property
    def path(self) -> Path:
        return self._core.path

    @property
    def hostname(self) -> str:
        return self._core.hostname

    @contextlib.asynccontextmanager
    async def transaction(self, *, write: bool = True) -> AsyncIterator[Entries]:
        """Hold the registry exclusively and yield its live entries for reading and changing.

        Entries whose owner process is provably gone are dropped first (and listed in
        ``Entries.reclaimed``). On a clean exit the file is rewritten if anything changed; on
        an exception nothing is written.

        :param write: False for a dry run: whatever changed, nothing is written
        """
        core = self._core
        async with self._exclusive() as lock_fd:
            stored, working = await drive_async(core.begin(await self._read()))
            yield working
            data = core.finish(stored, working) if write else None
            if data is not None:
                # Once the change is decided it is written out whole: a cancellation waits
                # for the rename instead of abandoning a half-done write.
                with anyio.CancelScope(shield=True):
                    await self._write(data, lock_fd)
                core.written(data, working)

    async def repair(self, *, force: bool = False) -> RepairResult:
        """Move an unusable registry aside to a timestamped backup and write what is left of
        it: its valid entries, or nothing when the document itself is unusable.

        :param force: also move aside what is no aioports registry at all (a folder, another
            program's JSON file); without it those are refused
        :raises RegistryError: for such a file without ``force``, and for a FIFO, a device
            or a socket at the path (never moved).
        """
        core = self._core
        async with self._exclusive() as lock_fd:
            try:
                diagnosis = core.diagnose(await self._read())
            except RegistryCorruptError as exc:  # a folder in its place
                diagnosis = Diagnosis(exc.reason, Entries(), (), foreign=True)
            if diagnosis is None:
                return RepairResult(repaired=False)
            if diagnosis.foreign and not force:
                raise RegistryError(core.path, refusal(core.path, diagnosis.reason))
            backup = await anyio.to_thread.run_sync(move_aside, core)
            data = diagnosis.kept.encode()
            await self._write(data, lock_fd)
            core.written(data, diagnosis.kept)
            _log.debug("registry %s moved aside to %s: %s", core.path, backup, diagnosis.reason)
            return RepairResult(
                repaired=True,
                backup_path=str(backup),
                reason=diagnosis.reason,
                kept=len(diagnosis.kept),
                dropped=diagnosis.dropped,
            )

    @contextlib.asynccontextmanager
    async def _exclusive(self) -> AsyncIterator[int]:
        path = self._core.path
        # No timeout here: ``lock_timeout`` bounds the wait for another *process*. A task
        # ahead in this queue holds it only for its own bounded wait and its I/O, so the
        # queue always moves; a thousand managers wait their turn instead of timing out.
        await _task_lock(path).acquire()
        try:
            fd = await _lock.acquire_async(path, self._lock_timeout, shared=self._shared)
            try:
                yield fd
            finally:
                _lock.release(fd)
        finally:
            _task_lock(path).release()

    async def _read(self) -> bytes | None:
        path = self._core.path
        try:
            async with aiofiles.open(path, "rb", buffering=0, opener=open_for_reading) as file:
                data: bytes = await file.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise read_error(path, exc) from exc
        return data

    async def _write(self, data: bytes, lock_fd: int) -> None:
        core = self._core
        temp = core.temp_path()
        try:
            try:
                async with aiofiles.open(temp, "xb", buffering=0, opener=open_temp) as file:
                    view = memoryview(data)
                    while view:
                        view = view[await file.write(view) :]
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
                raise
            await anyio.to_thread.run_sync(commit, core, temp, lock_fd)
        except OSError as exc:
            raise io_error(core.path, "write", exc) from exc
