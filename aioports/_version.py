"""The package version, kept in one place for pyproject and the CLI."""

from __future__ import annotations

__version__ = "0.1.0"
