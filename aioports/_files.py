"""The file handling every aioports file shares: reading a small file that might not be one, and
replacing a file so that nobody can make aioports write anywhere else.

Reading: opened without blocking (a FIFO in a file's place must not hang the caller) and
refused unless it is a regular file of a sane size (``/dev/zero`` never ends).

Writing (issue 12's rule for every file aioports writes): the new content goes to a temp file
in the same folder with an unpredictable name (``.<name>.<pid>-<16 hex>.tmp``), created
exclusively and never through a link (``O_CREAT | O_EXCL | O_NOFOLLOW``: a link planted at the
name is refused, not followed), then renamed over the file, then the folder is fsynced. A
killed writer leaves the old file or the new one, never a torn one; its temp file is swept by
the next writer once its PID is gone. The registry's shells (``_registry*.py``) use the same
flags and names; the settings and ``.env`` files use :func:`replace_file`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path

__all__ = (
    "READ_FLAGS",
    "TEMP_FLAGS",
    "is_temp_name",
    "read_file",
    "read_small_file",
    "replace_file",
    "sweep_dead_writers",
    "temp_path",
)

#: how a file is opened for reading: never blocking (a FIFO in its place), not inherited
READ_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
#: how a temp file is created: exclusively, never through a planted link, durable writes
TEMP_FLAGS = (
    os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_DSYNC", 0)
)  # fmt: skip
_TEMP_SUFFIX = ".tmp"


def read_small_file(path: Path, limit: int) -> bytes:
    """The bytes of the regular file ``path``, of at most ``limit`` bytes (see
    :func:`read_file`)."""
    return read_file(path, limit)[0]


def read_file(path: Path, limit: int, *, follow_links: bool = True) -> tuple[bytes, int]:
    """The bytes of the regular file ``path``, of at most ``limit`` bytes, and its permission
    bits.

    :param follow_links: False to refuse a symbolic link at ``path`` (``ELOOP``)
    :raises FileNotFoundError: when there is no such file.
    :raises IsADirectoryError: for a folder.
    :raises OSError: with ``EINVAL`` ("not a regular file") for a FIFO, a device or a socket,
        ``EFBIG`` for a file over ``limit``, ``ELOOP`` for a link not followed, and whatever
        the OS says otherwise.
    """
    flags = READ_FLAGS if follow_links else READ_FLAGS | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, "it is a folder", str(path))
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        if info.st_size > limit:
            raise OSError(errno.EFBIG, f"over {limit} bytes", str(path))
        chunks = []
        size = 0
        while chunk := os.read(fd, limit + 1 - size):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:  # it grew while we read
                raise OSError(errno.EFBIG, f"over {limit} bytes", str(path))
        return b"".join(chunks), stat.S_IMODE(info.st_mode)
    finally:
        os.close(fd)


def temp_path(path: Path) -> Path:
    """A fresh, unpredictable temp file name beside ``path``."""
    return path.with_name(f".{path.name}.{os.getpid()}-{os.urandom(8).hex()}{_TEMP_SUFFIX}")


def is_temp_name(name: str, prefix: str) -> tuple[int, str] | None:
    """``(pid, token)`` when ``name`` is a temp file name that :func:`temp_path` makes for a
    file whose names start with ``prefix`` (``.<name>.``), else None (another file's temp
    file whose name merely starts the same way is not)."""
    if not (name.startswith(prefix) and name.endswith(_TEMP_SUFFIX)):
        return None
    pid, _, token = name[len(prefix) : -len(_TEMP_SUFFIX)].partition("-")
    if not (pid.isascii() and pid.isdigit()) or len(token) not in (8, 16):
        return None
    if not all(c in "0123456789abcdef" for c in token):
        return None
    return int(pid), token


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    except OverflowError:
        return False  # no such PID can exist
    return True


def sweep_dead_writers(path: Path) -> None:
    """Remove the temp files of writers of ``path`` that died mid-write. Writes outside the
    registry take no lock, so only a temp file whose writer's PID is gone is removed."""
    prefix = f".{path.name}."
    try:
        names = os.listdir(path.parent)
    except OSError:
        return  # the write that follows says what is wrong with the folder
    for name in names:
        found = is_temp_name(name, prefix)
        if found is None or found[0] == os.getpid() or _alive(found[0]):
            continue
        with contextlib.suppress(OSError):  # gone already, or another user's (EPERM)
            os.unlink(path.with_name(name))


def _fsync_folder(folder: Path) -> None:
    if os.name != "posix":  # pragma: no cover - Windows cannot open a folder to fsync it
        return
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_file(path: Path, data: bytes, mode: int) -> None:
    """Put ``data`` in ``path`` atomically and durably, with permissions ``mode`` (whatever
    the umask): temp file beside it, then rename, then fsync of the folder.

    The caller has checked that ``path`` is a regular file or missing, and its folder.

    :raises OSError: when a step fails; the temp file is removed then.
    """
    sweep_dead_writers(path)
    temp = temp_path(path)
    fd = os.open(temp, TEMP_FLAGS, 0o600)
    try:
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    _fsync_folder(path.parent)
