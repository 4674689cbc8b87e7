"""Errors that only the command line raises; the library's own errors come from ``aioports``."""

from __future__ import annotations

__all__ = ("CliError", "StillOccupiedError", "UsageError")


class CliError(Exception):
    """Base class of the command line's own errors; ``exit_code`` is what ``main`` returns."""

    exit_code = 1


class UsageError(CliError):
    """Raised for arguments the command line cannot make sense of (exit code 2)."""

    exit_code = 2


class StillOccupiedError(CliError):
    """Raised when ``--reserve --kill`` signalled the holder but it did not exit in time.

    The library reports this as :class:`~aioports.PortInUseError`; the CLI knows it asked for
    the kill, so it says so (and its JSON ``type`` stays ``PortInUseError``).
    """

    json_type = "PortInUseError"

    def __init__(self, message: str, port: int, occupier: object) -> None:
        super().__init__(message)
        self.port = port
        self.occupier = occupier
