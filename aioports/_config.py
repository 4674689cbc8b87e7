"""Where the registry lives and which range is the default, resolved once per manager."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._errors import InvalidRangeError
from ._models import PortRange, RangeLike

__all__ = ("DEFAULT_RANGE", "default_registry_path", "resolve_range")

DEFAULT_RANGE = PortRange(3000, 3999)
REGISTRY_ENV = "AIOPORTS_REGISTRY"
RANGE_ENV = "AIOPORTS_RANGE"


def default_registry_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$AIOPORTS_REGISTRY``, else the user's per-platform state folder."""
    env = os.environ if environ is None else environ
    explicit = env.get(REGISTRY_ENV)
    if explicit:
        return Path(explicit).expanduser()
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        base = Path(env.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":  # pragma: no cover - exercised on macOS only
        base = Path.home() / "Library" / "Application Support"
    else:
        state = env.get("XDG_STATE_HOME")
        # The XDG spec says a relative value is invalid and must be ignored.
        base = Path(state) if state and os.path.isabs(state) else Path.home() / ".local" / "state"
    return base / "aioports" / "registry.json"


def resolve_range(
    range: RangeLike | None,
    config: Mapping[str, Any] | None,
    environ: Mapping[str, str] | None = None,
) -> PortRange:
    """The default range: ``range``, else ``config["ports"]["range"]``, else
    ``$AIOPORTS_RANGE``, else 3000-3999.

    :raises InvalidRangeError: when the winning source is malformed.
    """
    if range is not None:
        return PortRange.coerce(range)
    if config is not None:
        configured = _config_range(config)
        if configured is not None:
            return PortRange.coerce(configured)
    env = os.environ if environ is None else environ
    text = env.get(RANGE_ENV)
    if text:
        return PortRange.parse(text)
    return DEFAULT_RANGE


def _config_range(config: Mapping[str, Any]) -> Any:
    if not isinstance(config, Mapping):
        raise InvalidRangeError(config, "config must be a mapping like {'ports': {'range': ...}}")
    ports = config.get("ports")
    if ports is None:
        return None
    if not isinstance(ports, Mapping):
        raise InvalidRangeError(ports, "config['ports'] must be a mapping with a 'range' key")
    return ports.get("range")
