"""The saved default range: ``config.toml`` in the user's config folder.

It only remembers what ``aioports set-range`` chose, in a file of its own name and place
(``$AIOPORTS_CONFIG``, else ``$XDG_CONFIG_HOME/aioports/config.toml`` on Linux): a project's
own ``config.json`` beside a registry kept in the project is never read or overwritten. Every
door reads it through the one range resolver (``_config.range_setting``).

Before 0.2 the range was saved as ``config.json`` beside the registry. Such a file, when it is
exactly what aioports wrote, is migrated once: copied into the new file, then left alone.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Mapping
from pathlib import Path

from ._errors import ConfigError, InvalidRangeError
from ._folders import user_folder
from ._models import PortRange

__all__ = ("CONFIG_ENV", "LEGACY_NAME", "load_range", "save_range", "settings_path")

CONFIG_ENV = "AIOPORTS_CONFIG"
LEGACY_NAME = "config.json"
#: the largest settings file read: a few dozen bytes are plenty
MAX_SETTINGS_BYTES = 64 * 1024
_KEYS = frozenset({"range"})
_FIX = "fix or delete it, or run 'aioports set-range START-END'"


def settings_path(environ: Mapping[str, str] | None = None) -> Path:
    """The settings file: ``$AIOPORTS_CONFIG``, else the user's config folder."""
    env = os.environ if environ is None else environ
    explicit = env.get(CONFIG_ENV)
    if explicit:
        return Path(explicit).expanduser()
    return user_folder("config", env) / "config.toml"


def load_range(path: Path, legacy: Path | None = None) -> PortRange | None:
    """The range saved in the settings file ``path``, or None when there is none.

    :param legacy: where 0.1 kept it (``config.json`` beside the registry): migrated into
        ``path`` once, when ``path`` does not exist yet and the file is aioports' own
    :raises ConfigError: when the file exists but cannot be used; the message says why.
    """
    try:
        data = _read_small_file(path)
    except FileNotFoundError:
        return None if legacy is None else _migrate(legacy, path)
    except OSError as exc:
        folder = _folder_problem(path.parent, exc)
        if folder is not None:
            raise ConfigError(folder) from exc
        raise ConfigError(f"cannot read the settings file {path}: {exc.strerror}") from exc
    import tomllib

    try:
        document = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"the settings file {path} is not TOML ({exc}); {_FIX}") from exc
    unknown = sorted(set(document) - _KEYS)
    if unknown:
        raise ConfigError(
            f"the settings file {path} has unknown keys {unknown} (the one key is 'range'); {_FIX}"
        )
    raw = document.get("range")
    if raw is None:
        return None
    try:
        return PortRange.coerce(raw)
    except InvalidRangeError as exc:
        raise ConfigError(f"the settings file {path} holds a bad range: {exc}; {_FIX}") from exc


def _migrate(legacy: Path, path: Path) -> PortRange | None:
    """The range of a 0.1 ``config.json`` that aioports wrote, saved into ``path``; None for
    anything else (a project's own ``config.json`` is none of aioports' business)."""
    import orjson

    try:
        document = orjson.loads(_read_small_file(legacy))
        if not (isinstance(document, dict) and set(document) == {"version", "range"}):
            return None
        if document["version"] != 1:
            return None
        span = PortRange.coerce(document["range"])
    except (OSError, orjson.JSONDecodeError, InvalidRangeError):
        return None
    save_range(path, span)
    return span


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
    data = (
        "# aioports settings, written by 'aioports set-range'\n"
        f'range = "{range}"\n'
    ).encode()  # fmt: skip
    temp = path.with_name(f".{path.name}.{os.getpid()}-{os.urandom(8).hex()}.tmp")
    try:
        _make_private_folders(path.parent)
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


def _make_private_folders(folder: Path) -> None:
    from ._lock import make_private_folder

    make_private_folder(folder)


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
    """What is wrong with the settings file's folder, when that (and not the file in it) is
    why the file could not be read; None when the folder is fine."""
    if exc.errno == errno.ENOTDIR:
        return f"the settings folder {folder} is not a directory (a file is in its way)"
    if exc.errno in (errno.EACCES, errno.EPERM) and not os.access(folder, os.R_OK | os.X_OK):
        return f"cannot use the settings folder {folder}: {exc.strerror}"
    return None
