"""The ``aioports`` command line: ``main(argv=None) -> int``, also ``python -m aioports``."""

from __future__ import annotations

from ._main import main as main

__all__ = ("main",)
