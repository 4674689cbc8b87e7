"""The inter-process lock that guards every read-modify-write of the registry.

It locks a sidecar file (``registry.json.lock``) with ``flock`` on POSIX and ``msvcrt.locking``
on Windows. Each attempt is non-blocking and runs in a worker thread, so a waiting coroutine
can always be cancelled and never holds the event loop; between attempts it sleeps. The lock
file is never deleted: a waiter holding the old inode would otherwise lock a different file
from the next process. ``flock`` locks belong to the open file, so two managers in one process
exclude each other too.
"""

from __future__ import annotations

import errno
import logging
import os
import sys
from pathlib import Path

import anyio
import anyio.to_thread

from ._errors import PermissionDeniedError, RegistryError, RegistryLockTimeoutError

__all__ = ("InterProcessLock",)

logger = logging.getLogger("aioports")

_FIRST_POLL = 0.0005

if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EDEADLK):
                return False
            raise
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

    _OPEN_FLAGS = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOINHERIT", 0)
else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return False
            raise
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)

    _OPEN_FLAGS = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC


def _open(path: Path) -> int:
    try:
        return os.open(path, _OPEN_FLAGS, 0o600)
    except PermissionError as exc:
        raise PermissionDeniedError(
            f"cannot open the registry lock file {path}: {exc.strerror}"
        ) from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise RegistryError(path, f"refusing to follow a symbolic link at {path}") from exc
        raise RegistryError(
            path, f"cannot open the registry lock file {path}: {exc.strerror}"
        ) from exc


def _open_and_try(path: Path) -> tuple[int, bool]:
    fd = _open(path)
    try:
        return fd, _try_lock(fd)
    except BaseException:
        os.close(fd)
        raise


def _release(fd: int) -> None:
    try:
        _unlock(fd)
    finally:
        os.close(fd)


class InterProcessLock:
    """An exclusive lock on ``path`` shared by every process on the host; not re-entrant."""

    __slots__ = ("_fd", "_path")

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd: int | None = None

    @property
    def path(self) -> Path:
        return self._path

    async def acquire(self, *, lock_timeout: float, poll_interval: float, registry: Path) -> None:
        """Wait for the lock, polling with a growing interval up to ``poll_interval``.

        :raises RegistryLockTimeoutError: when it is not ours within ``lock_timeout`` seconds.
        """
        if self._fd is not None:
            raise RuntimeError("the registry lock is already held by this manager")
        fd, locked = await anyio.to_thread.run_sync(_open_and_try, self._path)
        delay = _FIRST_POLL
        try:
            with anyio.fail_after(lock_timeout):
                while not locked:
                    await anyio.sleep(delay)
                    delay = min(delay * 2, poll_interval)
                    locked = await anyio.to_thread.run_sync(_try_lock, fd)
        except TimeoutError:
            os.close(fd)
            logger.debug("lock %s: timed out after %s s", self._path, lock_timeout)
            raise RegistryLockTimeoutError(registry, lock_timeout) from None
        except BaseException:
            # Cancelled (or failed) while waiting; the fd may hold the lock if the last
            # attempt succeeded in its thread, and closing it releases that too.
            os.close(fd)
            raise
        self._fd = fd

    def release(self) -> None:
        """Unlock; a single non-blocking syscall pair, safe to call on the event loop."""
        fd, self._fd = self._fd, None
        if fd is not None:
            _release(fd)
