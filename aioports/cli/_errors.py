"""Errors that only the command line raises; the library's own errors come from ``aioports``."""

from __future__ import annotations

__all__ = ("CliError", "UsageError")


class CliError(Exception):
    """Base class of the command line's own errors; ``exit_code`` is what ``main`` returns."""

    exit_code = 1


class UsageError(CliError):
    """Raised for arguments the command line cannot make sense of (exit code 2)."""

    exit_code = 2
