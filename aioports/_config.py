"""Where the registry lives and which range is the default: one resolver for every door."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._errors import ConfigError, InvalidRangeError
from ._folders import user_folder
from ._models import PortRange, RangeLike
from ._records import record
from ._settings import LEGACY_NAME, load_range, settings_path

__all__ = (
    "DEFAULT_RANGE",
    "RANGE_ENV",
    "RangeSetting",
    "default_registry_path",
    "registry_location",
    "range_setting",
    "resolve_range",
)

DEFAULT_RANGE = PortRange(3000, 3999)
REGISTRY_ENV = "AIOPORTS_REGISTRY"
RANGE_ENV = "AIOPORTS_RANGE"


def registry_location(
    registry_path: str | os.PathLike[str] | None, environ: Mapping[str, str] | None = None
) -> tuple[Path, bool]:
    """The registry file, absolute, and whether the user chose it (an argument or
    ``$AIOPORTS_REGISTRY``), which alone allows a sticky shared folder."""
    env = os.environ if environ is None else environ
    chosen = registry_path is not None or bool(env.get(REGISTRY_ENV))
    path = default_registry_path(env) if registry_path is None else Path(registry_path)
    return path.expanduser().absolute(), chosen


def default_registry_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$AIOPORTS_REGISTRY``, else the user's per-platform state folder."""
    env = os.environ if environ is None else environ
    explicit = env.get(REGISTRY_ENV)
    if explicit:
        return Path(explicit).expanduser()
    return user_folder("state", env) / "registry.json"


@record
class RangeSetting:
    """The default range and where it came from.

    :ivar range: the range
    :ivar source: ``argument``, ``config`` (the ``config`` mapping), ``environment``
        (``$AIOPORTS_RANGE``), ``saved`` (the settings file ``set-range`` writes) or ``default``
    :ivar settings_path: the settings file consulted (and written by ``set-range``), if any
    """

    range: PortRange
    source: str
    settings_path: Path | None = None


def range_setting(
    range: RangeLike | None = None,
    config: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    registry_path: Path | None = None,
) -> RangeSetting:
    """The one place that decides the default range, for every door (library, CLI, pytest).

    Precedence: ``range``, then ``config["ports"]["range"]``, then ``$AIOPORTS_RANGE``, then
    the range ``aioports set-range`` saved (``$AIOPORTS_CONFIG``, else the user's config
    folder; with ``registry_path`` given, a 0.1 ``config.json`` beside it is migrated once),
    then 3000-3999.

    :raises InvalidRangeError: when ``range`` or ``config`` is malformed.
    :raises ConfigError: when ``$AIOPORTS_RANGE`` or the settings file is unusable.
    """
    env = os.environ if environ is None else environ
    saved_at = None if registry_path is None else settings_path(env)
    if range is not None:
        return RangeSetting(PortRange.coerce(range), "argument", saved_at)
    if config is not None:
        configured = _config_range(config)
        if configured is not None:
            return RangeSetting(PortRange.coerce(configured), "config", saved_at)
    text = env.get(RANGE_ENV)
    if text:
        try:
            span = PortRange.parse(text)
        except InvalidRangeError as exc:
            raise ConfigError(f"${RANGE_ENV}: {exc}; fix or unset it") from exc
        return RangeSetting(span, "environment", saved_at)
    if saved_at is not None and registry_path is not None:
        saved = load_range(saved_at, registry_path.with_name(LEGACY_NAME))
        if saved is not None:
            return RangeSetting(saved, "saved", saved_at)
    return RangeSetting(DEFAULT_RANGE, "default", saved_at)


def resolve_range(
    range: RangeLike | None,
    config: Mapping[str, Any] | None,
    environ: Mapping[str, str] | None = None,
    *,
    registry_path: Path | None = None,
) -> PortRange:
    """Just the range of :func:`range_setting`."""
    return range_setting(range, config, environ, registry_path=registry_path).range


def _config_range(config: Mapping[str, Any]) -> Any:
    if not isinstance(config, Mapping):
        raise InvalidRangeError(config, "config must be a mapping like {'ports': {'range': ...}}")
    unknown = sorted(map(str, set(config) - {"ports"}))
    if unknown:
        raise InvalidRangeError(config, f"unknown config keys {unknown}; the one key is 'ports'")
    ports = config.get("ports")
    if ports is None:
        return None
    if not isinstance(ports, Mapping):
        raise InvalidRangeError(ports, "config['ports'] must be a mapping with a 'range' key")
    unknown = sorted(map(str, set(ports) - {"range"}))
    if unknown:
        raise InvalidRangeError(
            ports, f"unknown config['ports'] keys {unknown}; the one is 'range'"
        )
    return ports.get("range")
