"""The CLI's persistent default range: ``config.json`` in the registry's folder.

The registry schema stays the library's; this small file only remembers what ``--set-range``
chose, and the CLI passes it to :class:`~aioports.PortManager` as ``range=``. ``$AIOPORTS_RANGE``
wins over the file, the way an environment variable overrides a settings file.
"""

from __future__ import annotations

import contextlib
import errno
import os
from dataclasses import dataclass
from pathlib import Path

import orjson

from .. import InvalidRangeError, PortRange
from ._errors import ConfigError

__all__ = ("CONFIG_NAME", "RangeSetting", "config_path", "effective_range", "save_range")

CONFIG_NAME = "config.json"
CONFIG_VERSION = 1
RANGE_ENV = "AIOPORTS_RANGE"
DEFAULT_RANGE = PortRange(3000, 3999)


@dataclass(frozen=True, slots=True)
class RangeSetting:
    """The default range the CLI uses, and where it came from.

    :ivar range: the range
    :ivar source: ``environment``, ``config`` or ``default``
    :ivar config_path: the settings file the CLI reads and ``--set-range`` writes
    """

    range: PortRange
    source: str
    config_path: Path


def config_path(registry_path: Path) -> Path:
    """The settings file that sits next to ``registry_path``."""
    return registry_path.with_name(CONFIG_NAME)


def effective_range(registry_path: Path, environ: dict[str, str]) -> RangeSetting:
    """``$AIOPORTS_RANGE``, else the saved range, else 3000-3999.

    :raises ConfigError: when ``$AIOPORTS_RANGE`` is malformed, or the settings file exists
        but cannot be used; the message names which.
    """
    path = config_path(registry_path)
    text = environ.get(RANGE_ENV)
    if text:
        try:
            span = PortRange.parse(text)
        except InvalidRangeError as exc:
            raise ConfigError(f"${RANGE_ENV}: {exc}; fix or unset it") from exc
        return RangeSetting(span, "environment", path)
    saved = _load_range(path)
    if saved is not None:
        return RangeSetting(saved, "config", path)
    return RangeSetting(DEFAULT_RANGE, "default", path)


def save_range(registry_path: Path, range: PortRange) -> Path:
    """Write ``range`` to the settings file atomically (temp file, then rename).

    :return: the settings file
    :raises ConfigError: when the file cannot be written.
    """
    path = config_path(registry_path)
    data = orjson.dumps(
        {"version": CONFIG_VERSION, "range": range.to_dict()},
        option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS,
    )
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with open(temp, "wb") as file:
            file.write(data + b"\n")
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise ConfigError(f"cannot write the settings file {path}: {exc.strerror}") from exc
    return path


def _load_range(path: Path) -> PortRange | None:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        folder = _folder_problem(path.parent, exc)
        if folder is not None:
            raise ConfigError(folder) from exc
        raise ConfigError(f"cannot read the settings file {path}: {exc.strerror}") from exc
    fix = "fix or delete it, or run 'aioports --set-range START-END'"
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"the settings file {path} is not JSON ({exc}); {fix}") from exc
    if not isinstance(document, dict) or document.get("version") != CONFIG_VERSION:
        raise ConfigError(
            f"the settings file {path} is not an aioports {CONFIG_VERSION} file; {fix}"
        )
    raw = document.get("range")
    if raw is None:
        return None
    try:
        return PortRange.coerce(raw)
    except InvalidRangeError as exc:
        raise ConfigError(f"the settings file {path} holds a bad range: {exc}; {fix}") from exc


def _folder_problem(folder: Path, exc: OSError) -> str | None:
    """What is wrong with the registry's folder, when that (and not the settings file in it)
    is why the file could not be read; None when the folder is fine."""
    if exc.errno == errno.ENOTDIR:
        return f"the registry folder {folder} is not a directory (a file is in its way)"
    if exc.errno in (errno.EACCES, errno.EPERM) and not os.access(folder, os.R_OK | os.X_OK):
        return f"cannot use the registry folder {folder}: {exc.strerror}"
    return None
