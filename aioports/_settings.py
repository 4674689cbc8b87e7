"""The saved default range: a small settings file beside the registry (``config.json``).

It only remembers what ``aioports set-range`` chose; the registry schema stays separate.
Reading it is part of the one range resolver (``_config.resolve_range``), so the library, the
command line and the pytest fixtures all honour it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path

import orjson

from ._errors import ConfigError, InvalidRangeError
from ._models import PortRange

__all__ = ("CONFIG_NAME", "load_range", "save_range", "settings_path")

CONFIG_NAME = "config.json"
CONFIG_VERSION = 1
_FIX = "fix or delete it, or run 'aioports set-range START-END'"


def settings_path(registry_path: Path) -> Path:
    """The settings file that sits next to ``registry_path``."""
    return registry_path.with_name(CONFIG_NAME)


def load_range(path: Path) -> PortRange | None:
    """The range saved in the settings file ``path``, or None when there is none.

    :raises ConfigError: when the file exists but cannot be used; the message says why.
    """
    try:
        data = _read_small_file(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        folder = _folder_problem(path.parent, exc)
        if folder is not None:
            raise ConfigError(folder) from exc
        raise ConfigError(f"cannot read the settings file {path}: {exc.strerror}") from exc
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"the settings file {path} is not JSON ({exc}); {_FIX}") from exc
    if not isinstance(document, dict) or document.get("version") != CONFIG_VERSION:
        raise ConfigError(
            f"the settings file {path} is not an aioports {CONFIG_VERSION} file; {_FIX}"
        )
    raw = document.get("range")
    if raw is None:
        return None
    try:
        return PortRange.coerce(raw)
    except InvalidRangeError as exc:
        raise ConfigError(f"the settings file {path} holds a bad range: {exc}; {_FIX}") from exc


#: the largest settings file read: a few hundred bytes are plenty
MAX_SETTINGS_BYTES = 64 * 1024


def _read_small_file(path: Path) -> bytes:
    """The bytes of a regular file of at most :data:`MAX_SETTINGS_BYTES`; opened without
    blocking, so a FIFO in its place cannot hang the caller."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        if info.st_size > MAX_SETTINGS_BYTES:
            raise OSError(errno.EFBIG, f"over {MAX_SETTINGS_BYTES} bytes", str(path))
        return os.read(fd, MAX_SETTINGS_BYTES + 1)
    finally:
        os.close(fd)


def save_range(path: Path, range: PortRange) -> None:
    """Write ``range`` to the settings file ``path`` atomically (temp file, then rename).

    :raises ConfigError: when the file cannot be written.
    """
    data = orjson.dumps(
        {"version": CONFIG_VERSION, "range": range.to_dict()},
        option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE,
    )
    temp = path.with_name(f".{path.name}.{os.getpid()}-{os.urandom(8).hex()}.tmp")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        _sweep_dead_writers(path)
        # O_EXCL | O_NOFOLLOW: a link planted at the temp name is refused, never followed.
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(temp, flags | getattr(os, "O_CLOEXEC", 0), 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise ConfigError(f"cannot write the settings file {path}: {exc.strerror}") from exc


def _sweep_dead_writers(path: Path) -> None:
    """Remove the temp files of ``set-range`` runs that died mid-write. Settings writes take
    no lock, so only a temp file whose writer's PID no longer exists is removed."""
    prefix, suffix = f".{path.name}.", ".tmp"
    for name in os.listdir(path.parent):
        if not (name.startswith(prefix) and name.endswith(suffix)):
            continue
        pid, _, token = name[len(prefix) : -len(suffix)].partition("-")
        if not (pid.isdigit() and len(token) in (8, 16)) or _alive(int(pid)):
            continue
        with contextlib.suppress(OSError):
            os.unlink(path.with_name(name))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True


def _folder_problem(folder: Path, exc: OSError) -> str | None:
    """What is wrong with the registry's folder, when that (and not the settings file in it)
    is why the file could not be read; None when the folder is fine."""
    if exc.errno == errno.ENOTDIR:
        return f"the registry folder {folder} is not a directory (a file is in its way)"
    if exc.errno in (errno.EACCES, errno.EPERM) and not os.access(folder, os.R_OK | os.X_OK):
        return f"cannot use the registry folder {folder}: {exc.strerror}"
    return None
