"""The ``aioports`` command line."""

from __future__ import annotations

from ._commands import main as main

__all__ = ("main",)
