"""Where a user's files go on each platform: the one place that knows the folder layouts."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

__all__ = ("user_folder",)

# kind -> (XDG variable, its fallback under $HOME, Windows variable, its fallback under $HOME)
_LAYOUTS = {
    "state": ("XDG_STATE_HOME", (".local", "state"), "LOCALAPPDATA", ("AppData", "Local")),
    "config": ("XDG_CONFIG_HOME", (".config",), "APPDATA", ("AppData", "Roaming")),
}


def user_folder(kind: str, environ: Mapping[str, str]) -> Path:
    """aioports' folder of ``kind`` (``state`` for the registry, ``config`` for settings)."""
    xdg, xdg_default, windows, windows_default = _LAYOUTS[kind]
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        base = Path(environ.get(windows) or Path.home().joinpath(*windows_default))
    elif sys.platform == "darwin":  # pragma: no cover - exercised on macOS only
        base = Path.home() / "Library" / "Application Support"
    else:
        value = environ.get(xdg)
        # The XDG spec says a relative value is invalid and must be ignored.
        base = Path(value) if value and os.path.isabs(value) else Path.home().joinpath(*xdg_default)
    return base / "aioports"
