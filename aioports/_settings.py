"""The saved default range: ``config.toml`` in the user's config folder.

It only remembers what ``aioports set-range`` chose, in a file of its own name and place
(``$AIOPORTS_CONFIG``, else ``$XDG_CONFIG_HOME/aioports/config.toml`` on Linux): a project's
own ``config.json`` beside a registry kept in the project is never read or overwritten. Every
door reads it through the one range resolver (``_config.range_setting``).

Before 0.2 the range was saved as ``config.json`` beside the registry. Such a file, when it is
exactly what aioports wrote, is migrated once: copied into the new file, then left alone.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Mapping
from pathlib import Path

from ._errors import ConfigError, InvalidRangeError
from ._files import read_small_file, replace_file
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
        data = read_small_file(path, MAX_SETTINGS_BYTES)
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
        document = orjson.loads(read_small_file(legacy, MAX_SETTINGS_BYTES))
        if not (isinstance(document, dict) and set(document) == {"version", "range"}):
            return None
        if document["version"] != 1:
            return None
        span = PortRange.coerce(document["range"])
    except (OSError, orjson.JSONDecodeError, InvalidRangeError):
        return None
    save_range(path, span)
    return span


def save_range(path: Path, range: PortRange) -> None:
    """Write ``range`` to the settings file ``path`` atomically (temp file, then rename).

    :raises ConfigError: when the file cannot be written.
    """
    data = (
        "# aioports settings, written by 'aioports set-range'\n"
        f'range = "{range}"\n'
    ).encode()  # fmt: skip
    from ._lock import make_private_folder

    try:
        make_private_folder(path.parent)
        replace_file(path, data, 0o600)
    except OSError as exc:
        raise ConfigError(f"cannot write the settings file {path}: {exc.strerror}") from exc


def _folder_problem(folder: Path, exc: OSError) -> str | None:
    """What is wrong with the settings file's folder, when that (and not the file in it) is
    why the file could not be read; None when the folder is fine."""
    if exc.errno == errno.ENOTDIR:
        return f"the settings folder {folder} is not a directory (a file is in its way)"
    if exc.errno in (errno.EACCES, errno.EPERM) and not os.access(folder, os.R_OK | os.X_OK):
        return f"cannot use the settings folder {folder}: {exc.strerror}"
    return None
