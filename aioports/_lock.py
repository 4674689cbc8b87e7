"""The inter-process lock that guards every read-modify-write of the registry.

It is an exclusive ``flock`` (``msvcrt.locking`` on Windows) on a sidecar file,
``registry.json.lock``, which is never deleted: a waiter holding an old inode would lock a
different file from the next process. Each acquisition opens the file afresh and closing
that descriptor releases the lock, so an abandoned wait can never release somebody else's.

A waiter sleeps in the kernel until the holder lets go (a blocking ``flock``), so the lock
is handed over at once instead of after a poll interval. The blocking wait runs in a thread,
which is what lets ``lock_timeout`` and cancellation give up on it: the thread then keeps
waiting, and closes the descriptor as soon as it gets the lock.

After locking, the locked file must still be the one at the path (same device and inode):
a lock file deleted or replaced while held would otherwise let a second writer in.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from . import _log
from ._errors import PermissionDeniedError, RegistryError, RegistryLockTimeoutError

__all__ = ("acquire", "acquire_async", "is_current", "make_private_folder", "release")

if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _lock(fd: int, *, wait: bool) -> bool:
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_LOCK if wait else msvcrt.LK_NBLCK, 1)
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EDEADLK):
                return False
            raise
        return True

    _OPEN_FLAGS = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOINHERIT", 0)
else:
    import fcntl

    def _lock(fd: int, *, wait: bool) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return False
            raise
        return True

    _OPEN_FLAGS = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC


def lock_path(registry: Path) -> Path:
    return registry.with_name(registry.name + ".lock")


def make_private_folder(folder: Path) -> None:
    """Create ``folder`` and any missing parents with mode 0700, whatever the umask."""
    missing = []
    current = folder
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for path in reversed(missing):
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            continue
        os.chmod(path, 0o700)


def _check_registry_path(registry: Path) -> None:
    """Refuse to put a lock file beside something that is not a registry file or folder."""
    try:
        mode = os.lstat(registry).st_mode
    except FileNotFoundError:
        return
    except OSError:
        return  # the read that follows says what is wrong, in registry terms
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode):
        return
    kind = "a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
    raise RegistryError(registry, f"the registry {registry} is {kind}, not a regular file")


def _open(registry: Path) -> int:
    path = lock_path(registry)
    try:
        try:
            return os.open(path, _OPEN_FLAGS, 0o600)
        except FileNotFoundError:
            make_private_folder(path.parent)
            return os.open(path, _OPEN_FLAGS, 0o600)
    except PermissionError as exc:
        folder = path.parent
        if not os.access(folder, os.W_OK | os.X_OK):  # the folder, not the lock file, refuses
            message = f"cannot use the registry folder {folder}: {exc.strerror}"
        else:
            message = f"cannot open the registry lock file {path}: {exc.strerror}"
        raise PermissionDeniedError(message) from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise RegistryError(path, f"refusing to follow a symbolic link at {path}") from exc
        if exc.errno == errno.ENOTDIR or (exc.errno == errno.EEXIST and not path.parent.is_dir()):
            message = f"cannot create the registry folder {path.parent}: a file is in its way"
            raise RegistryError(registry, message) from exc
        raise RegistryError(
            path, f"cannot open the registry lock file {path}: {exc.strerror}"
        ) from exc


def _check_ownership(registry: Path, *, shared: bool) -> None:
    """Refuse a registry folder or file another user owns or may write: they could swap in
    their own registry, or plant links. A sticky shared folder (``/tmp``, mode 1777) is fine
    when the user chose it explicitly (``shared``): there, other users' files are the point.
    """
    if not hasattr(os, "geteuid"):  # pragma: no cover - Windows: ACLs, not modes
        return
    me = os.geteuid()
    folder = registry.parent
    try:
        info = os.stat(folder)
    except OSError:
        return  # opening the lock file says what is wrong, in registry terms
    if not stat.S_ISDIR(info.st_mode):
        return  # likewise: a file in the folder's way
    sticky_shared = shared and bool(info.st_mode & stat.S_ISVTX)
    if sticky_shared:
        return
    if info.st_uid != me:
        raise PermissionDeniedError(
            f"the registry folder {folder} belongs to another user (uid {info.st_uid}); "
            "use a folder of your own, or set $AIOPORTS_REGISTRY to a file in a sticky "
            "shared folder (mode 1777) to share a registry between users"
        )
    if info.st_mode & 0o022:
        raise PermissionDeniedError(
            f"the registry folder {folder} is writable by others (mode "
            f"{stat.S_IMODE(info.st_mode):04o}); run 'chmod go-w {folder}' or choose another"
        )
    try:
        own = os.lstat(registry)
    except OSError:
        return  # missing (or unreadable: the read says so)
    if own.st_uid != me or own.st_mode & 0o022:
        raise PermissionDeniedError(
            f"the registry {registry} belongs to another user or is writable by others; "
            "move it aside, or share a registry through a sticky folder ($AIOPORTS_REGISTRY)"
        )


def is_current(fd: int, registry: Path) -> bool:
    """Whether the locked descriptor is still the lock file at the path (a holder checks
    again before it commits: a lock file deleted meanwhile may have let a second writer in)."""
    try:
        at_path = os.stat(lock_path(registry), follow_symlinks=False)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (at_path.st_dev, at_path.st_ino)


def _take(registry: Path, *, wait: bool, shared: bool) -> int | None:
    """Open the lock file and lock it; None when ``wait`` is False and another holds it."""
    _check_registry_path(registry)
    while True:
        if os.path.exists(registry.parent):  # else _open makes it, ours and private
            _check_ownership(registry, shared=shared)  # before anything is created there
        fd = _open(registry)
        try:
            if not _lock(fd, wait=wait):
                os.close(fd)
                return None
            if is_current(fd, registry):
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # the file was replaced or deleted while we waited: lock the new one
        _log.debug("lock file of %s changed while locking; locking again", registry)


class _Wait:
    """One blocking wait for the lock, in a daemon thread its caller may give up on (a
    daemon, so that a process whose last wait was abandoned can still exit)."""

    __slots__ = ("_error", "_fd", "_given_up", "_mutex", "_notify", "_registry", "_shared", "done")

    def __init__(
        self, registry: Path, shared: bool, notify: Callable[[], object] | None = None
    ) -> None:
        self._registry = registry
        self._shared = shared
        self._notify = notify
        self._mutex = threading.Lock()
        self._given_up = False
        self._fd: int | None = None
        self._error: BaseException | None = None
        self.done = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._run, name="aioports-lock", daemon=True).start()

    def _run(self) -> None:
        try:
            fd = _take(self._registry, wait=True, shared=self._shared)
        except BaseException as exc:  # handed to the caller by result()
            self._error = exc
        else:
            assert fd is not None
            with self._mutex:
                if self._given_up:
                    os.close(fd)  # nobody wants it any more
                else:
                    self._fd = fd
        self.done.set()
        if self._notify is not None:
            with contextlib.suppress(RuntimeError):  # the waiting event loop has closed
                self._notify()

    def result(self) -> int:
        if self._error is not None:
            raise self._error
        assert self._fd is not None
        return self._fd

    def give_up(self) -> int | None:
        """Stop wanting the lock; returns the descriptor if it was taken meanwhile."""
        with self._mutex:
            self._given_up = True
            fd, self._fd = self._fd, None
        return fd


def _try_take(registry: Path, shared: bool) -> int | None:
    return _take(registry, wait=False, shared=shared)


def acquire(registry: Path, timeout: float, *, shared: bool = False) -> int:
    """Take the lock of ``registry`` in this thread; returns the descriptor that holds it.

    :raises RegistryLockTimeoutError: when it is not ours within ``timeout`` seconds.
    """
    fd = _take(registry, wait=False, shared=shared)
    if fd is not None:
        return fd
    wait = _Wait(registry, shared)
    wait.start()
    try:
        done = wait.done.wait(timeout)
    except BaseException:  # a signal's exception (Ctrl-C, SIGTERM in the CLI) while waiting
        fd = wait.give_up()
        if fd is not None:
            os.close(fd)
        raise
    if done:
        return wait.result()
    fd = wait.give_up()
    if fd is not None:
        return fd
    _log.debug("lock of %s: timed out after %s s", registry, timeout)
    raise RegistryLockTimeoutError(registry, timeout)


async def acquire_async(registry: Path, lock_timeout: float, *, shared: bool = False) -> int:
    """:func:`acquire` for the event loop: one thread does the waiting, cancellably.

    :raises RegistryLockTimeoutError: when it is not ours within ``lock_timeout`` seconds.
    """
    import asyncio

    import anyio
    import anyio.to_thread

    # Uncontended, one hop to a pooled worker thread takes it; only a wait needs a thread
    # of its own (one an abandoned wait can be left to).
    fd = await anyio.to_thread.run_sync(_try_take, registry, shared)
    if fd is not None:
        return fd
    loop = asyncio.get_running_loop()
    woken = loop.create_future()

    def wake() -> None:
        if not woken.done():
            woken.set_result(None)

    wait = _Wait(registry, shared, lambda: loop.call_soon_threadsafe(wake))
    try:
        with anyio.fail_after(lock_timeout):
            wait.start()
            await woken
    except TimeoutError:
        fd = wait.give_up()
        if fd is not None:
            return fd
        _log.debug("lock of %s: timed out after %s s", registry, lock_timeout)
        raise RegistryLockTimeoutError(registry, lock_timeout) from None
    except BaseException:
        fd = wait.give_up()
        if fd is not None:
            os.close(fd)
        raise
    return wait.result()


def release(fd: int) -> None:
    """Let go of the lock: closing the descriptor releases it (a non-blocking syscall)."""
    os.close(fd)
