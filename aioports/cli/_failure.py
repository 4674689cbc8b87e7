"""A failed run as a result: the error's sentence (one place for both outputs), its JSON
fields, and its exit code."""

from __future__ import annotations

import os

from ._errors import CliError
from ._results import PREFIX, Result, Style, printable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ("EXIT_FAILURE", "EXIT_USAGE", "Failure", "Interrupted", "UnexpectedError", "explained")

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143

_CONTEXT = (
    "port", "value", "reason", "path", "pid", "range", "occupier", "allocation", "condition",
    "timeout",
)  # fmt: skip


class Interrupted(CliError):
    """Ctrl-C (SIGINT): the run stopped before it finished (exit code 130)."""

    exit_code = EXIT_INTERRUPTED


class Terminated(CliError):
    """SIGTERM: the run was asked to stop before it finished (exit code 143, 128 + 15)."""

    exit_code = EXIT_TERMINATED


class UnexpectedError(CliError):
    """An error aioports did not expect; with ``AIOPORTS_DEBUG=1`` its traceback is shown."""


def explained(exc: Exception) -> Exception:
    """Errors the user can act on pass as they are; anything else is labelled unexpected."""
    from .. import AioportsError

    if isinstance(exc, (AioportsError, CliError, ValueError, OSError)):
        return exc
    hint = "" if os.environ.get("AIOPORTS_DEBUG") == "1" else " (AIOPORTS_DEBUG=1 shows details)"
    wrapped = UnexpectedError(f"unexpected {type(exc).__name__}: {exc}{hint}")
    wrapped.__cause__ = exc  # AIOPORTS_DEBUG=1 then shows the original traceback
    return wrapped


def _jsonable(value: object) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    return str(value)


class Failure(Result):
    """An error as the run's result.

    :ivar error: what was raised (after :func:`explained`)
    :ivar others_allowed: ``--allow-other-users`` was given (so it is not the advice)
    """

    __slots__ = ("error", "others_allowed")

    def __init__(self, error: BaseException, *, others_allowed: bool = False) -> None:
        self.error, self.others_allowed = error, others_allowed

    status = "error"
    to_stderr = True

    @property
    def code(self) -> int:  # type: ignore[override]
        if isinstance(self.error, CliError):
            return self.error.exit_code
        return EXIT_USAGE if isinstance(self.error, ValueError) else EXIT_FAILURE

    @property
    def message(self) -> str:
        from .. import DenialReason, KillFailedError, KillOutcome, PermissionDeniedError

        exc = self.error
        if isinstance(exc, KillFailedError):
            from ._results_live import who

            holder = "its holder" if exc.occupier is None else who(exc.occupier)
            if exc.result.outcome is not KillOutcome.SURVIVED:
                what = f"{holder} exited, yet the port is still busy"
            else:
                what = f"{holder} did not exit in time"
            hint = "" if exc.result.signal == "SIGKILL" else "; use --force to kill it outright"
            return f"Port {exc.port} is still occupied: {what}; nothing was reserved{hint}"
        if (
            isinstance(exc, PermissionDeniedError)
            and exc.reason is DenialReason.OTHER_USER
            and not self.others_allowed
        ):
            pid = "unknown" if exc.pid is None else exc.pid
            return (
                f"refusing to signal PID {pid}: it belongs to another user; "
                "use --allow-other-users (as root)"
            )
        return str(exc)

    def document(self) -> object:
        from .. import KillFailedError

        exc = self.error
        # A failed kill is still the PortInUseError the CLI has always reported.
        kind = "PortInUseError" if isinstance(exc, KillFailedError) else type(exc).__name__
        fields: dict[str, Any] = {"type": kind, "message": self.message}
        for name in _CONTEXT:
            try:
                value = getattr(exc, name)
            except AttributeError:
                continue
            if not callable(value):
                fields[name] = _jsonable(value)
        return {"status": "error", "error": fields}

    def human(self, style: Style) -> str:
        from .. import KillFailedError, PortInUseError

        exc = self.error
        if isinstance(exc, PortInUseError) and not isinstance(exc, KillFailedError):
            from ._results_live import who

            lines = [f"Port {exc.port} is currently occupied."]
            if exc.occupier is not None:
                lines.append(f"Process: {who(exc.occupier)}")
            lines += ["No action was taken.", "Add --kill to end it and reserve the port."]
            return PREFIX + "\n".join(lines) + "\n"
        text = f"{PREFIX}error: {printable(self.message)}\n"
        if os.environ.get("AIOPORTS_DEBUG") == "1":
            import traceback

            text += "".join(traceback.format_exception(exc.__cause__ or exc))
        return text
