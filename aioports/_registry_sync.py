"""The sync shell of the registry: plain ``os`` calls, for code without an event loop.

The CLI, the sync facade (``allocate_sync`` ...) and the pytest fixtures use it: one
transaction costs its syscalls and nothing else, no event loop, no threads (a thread only
while waiting for a lock another process holds). The deciding is
:class:`~aioports._transaction.RegistryCore`'s, exactly as in the async shell, and the file
helpers here (the opener that refuses what is not a regular file, the commit, the error
mapping) serve both shells.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from . import _lock, _log
from ._entries import Entries
from ._errors import AioportsError, PermissionDeniedError, RegistryCorruptError, RegistryError
from ._models import RepairResult
from ._steps import drive_sync
from ._transaction import (
    MAX_REGISTRY_BYTES,
    READ_FLAGS,
    TEMP_FLAGS,
    Diagnosis,
    RegistryCore,
    is_stray_temp,
)

__all__ = (
    "SyncRegistry",
    "commit",
    "io_error",
    "move_aside",
    "open_for_reading",
    "open_temp",
    "read_error",
    "refusal",
)


class _NotARegularFile(OSError):
    pass


class _TooLarge(OSError):
    def __init__(self, size: int) -> None:
        super().__init__(errno.EFBIG, f"{size} bytes")
        self.size = size


def open_for_reading(path: str | Path, flags: int = 0) -> int:
    """Open the registry without blocking, and refuse anything but a regular file of a sane
    size: a FIFO would hang the lock holder, ``/dev/zero`` would never end. (An ``opener``
    for ``open()``; ``flags`` is ignored.)"""
    fd = os.open(path, READ_FLAGS)
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, "Is a directory", str(path))
        if not stat.S_ISREG(info.st_mode):
            raise _NotARegularFile(errno.EINVAL, "not a regular file", str(path))
        if info.st_size > MAX_REGISTRY_BYTES:
            raise _TooLarge(info.st_size)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_temp(path: str | Path, flags: int = 0) -> int:
    """Create a temp file exclusively, never through a link (an ``opener``)."""
    return os.open(path, TEMP_FLAGS, 0o600)


def read_error(path: Path, exc: OSError) -> AioportsError:
    """The aioports error for a failed read of the registry."""
    if isinstance(exc, _NotARegularFile):
        return RegistryError(path, f"the registry {path} is not a regular file")
    if isinstance(exc, _TooLarge):
        return RegistryCorruptError(
            path, f"it is {exc.size} bytes, over the {MAX_REGISTRY_BYTES} a registry can be"
        )
    if isinstance(exc, IsADirectoryError):
        return RegistryCorruptError(path, "it is a folder, not a file")
    return io_error(path, "read", exc)


def io_error(path: Path, verb: str, exc: OSError) -> AioportsError:
    """The aioports error for a failed ``verb`` (read, write) of the registry."""
    if isinstance(exc, PermissionError):
        return PermissionDeniedError(f"cannot {verb} the registry {path}: {exc.strerror}")
    return RegistryError(path, f"cannot {verb} the registry {path}: {exc.strerror or exc}")


def _fsync_folder(folder: Path) -> None:
    if os.name != "posix":  # pragma: no cover - Windows cannot open a folder to fsync it
        return
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def commit(core: RegistryCore, temp: Path, lock_fd: int) -> None:
    """Put the written temp file in the registry's place, durably: remove the temp files of
    writers that died mid-write (only lock holders write them), rename, fsync the folder.

    :raises RegistryError: when the lock file was deleted or replaced while we held it:
        another writer may be in, so nothing is written.
    """
    folder = core.path.parent
    prefix = core.temp_prefix
    try:
        if not _lock.is_current(lock_fd, core.path):
            raise RegistryError(
                core.path,
                f"the lock file of {core.path} was deleted or replaced while this process "
                "held it; nothing was written (try again)",
            )
        with os.scandir(folder) as names:
            strays = [e.name for e in names if is_stray_temp(e.name, prefix)]
        strays = [name for name in strays if name != temp.name]
        for name in strays:
            # Gone already, or another user's file planted in a shared sticky folder (EPERM):
            # either way not ours to wait for.
            with contextlib.suppress(OSError):
                os.unlink(folder / name)
        os.replace(temp, core.path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    _fsync_folder(folder)


def refusal(path: Path, reason: str) -> str:
    """Why ``repair`` leaves a file that is no aioports registry where it is, and how to move
    it anyway."""
    return (
        f"{path} is not an aioports registry ({reason}); repair leaves it alone: with "
        f"--force (force=True) it moves it to {path.name}.corrupt-<UTC time> and starts an "
        "empty registry"
    )


def move_aside(core: RegistryCore) -> Path:
    """Rename the registry to a timestamped backup beside it; returns the backup."""
    backup = core.backup_path(set(os.listdir(core.path.parent)))
    os.rename(core.path, backup)
    return backup


def _read(path: Path) -> bytes | None:
    try:
        fd = open_for_reading(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise read_error(path, exc) from exc
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise read_error(path, exc) from exc
    finally:
        os.close(fd)


def _write(core: RegistryCore, data: bytes, lock_fd: int) -> None:
    temp = core.temp_path()
    try:
        fd = open_temp(temp)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        os.close(fd)
        commit(core, temp, lock_fd)
    except OSError as exc:
        raise io_error(core.path, "write", exc) from exc


class SyncRegistry:
    """One registry file for sync callers; every read and write goes through
    :meth:`transaction`."""

    __slots__ = ("_core", "_lock_timeout", "_shared")

    def __init__(self, path: Path, *, lock_timeout: float, shared: bool = False) -> None:
        """:param shared: as for the async ``Registry``"""
        self._core = RegistryCore(path)
        self._shared = shared
        self._lock_timeout = lock_timeout

    @property
    def path(self) -> Path:
        return self._core.path

    @property
    def hostname(self) -> str:
        return self._core.hostname

    @contextlib.contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Entries]:
        """Hold the registry exclusively and yield its live entries for reading and changing.

        As the async shell's: dead owners' entries dropped first, the file rewritten on a
        clean exit if anything changed (unless ``write`` is False), nothing written on an
        exception.
        """
        core = self._core
        with self._exclusive() as lock_fd:
            stored, working = drive_sync(core.begin(self._read()))
            yield working
            data = core.finish(stored, working) if write else None
            if data is not None:
                self._write(data, lock_fd)
                core.written(data, working)

    def repair(self, *, force: bool = False) -> RepairResult:
        """Move an unusable registry aside to a timestamped backup and write what is left of
        it: its valid entries, or nothing when the document itself is unusable.

        :param force: also move aside what is no aioports registry at all (a folder, another
            program's JSON file); without it those are refused
        :raises RegistryError: for such a file without ``force``, and for a FIFO, a device
            or a socket at the path (never moved).
        """
        core = self._core
        with self._exclusive() as lock_fd:
            try:
                diagnosis = core.diagnose(self._read())
            except RegistryCorruptError as exc:  # a folder in its place
                diagnosis = Diagnosis(exc.reason, Entries(), (), foreign=True)
            if diagnosis is None:
                return RepairResult(repaired=False)
            if diagnosis.foreign and not force:
                raise RegistryError(core.path, refusal(core.path, diagnosis.reason))
            backup = move_aside(core)
            data = diagnosis.kept.encode()
            self._write(data, lock_fd)
            core.written(data, diagnosis.kept)
            _log.debug("registry %s moved aside to %s: %s", core.path, backup, diagnosis.reason)
            return RepairResult(
                repaired=True,
                backup_path=str(backup),
                reason=diagnosis.reason,
                kept=len(diagnosis.kept),
                dropped=diagnosis.dropped,
            )

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[int]:
        fd = _lock.acquire(self._core.path, self._lock_timeout, shared=self._shared)
        try:
            yield fd
        finally:
            _lock.release(fd)

    def _read(self) -> bytes | None:
        return _read(self._core.path)

    def _write(self, data: bytes, lock_fd: int) -> None:
        _write(self._core, data, lock_fd)
