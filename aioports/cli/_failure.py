"""A failed run as a result: the error's sentence (one place for both outputs), its JSON
fields, and its exit code."""

from __future__ import annotations

import os

from ._errors import CliError
from ._facts import denied_other_user
from ._results import PREFIX, Result, Style, printable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ("EXIT_FAILURE", "EXIT_USAGE", "Failure", "Interrupted", "UnexpectedError", "explained")

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

_CONTEXT = ("port", "value", "reason", "path", "pid", "range", "occupier", "allocation")


class Interrupted(CliError):
    """Ctrl-C (SIGINT): the run stopped before it finished (exit code 130)."""

    exit_code = EXIT_INTERRUPTED


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
    :ivar kill_failed: ``reserve --kill`` killed, and the port is still not free
    :ivar forced: that kill was a SIGKILL (``--force``)
    """

    __slots__ = ("error", "forced", "kill_failed")

    def __init__(
        self, error: BaseException, kill_failed: bool = False, forced: bool = False
    ) -> None:
        self.error, self.kill_failed, self.forced = error, kill_failed, forced

    status = "error"
    to_stderr = True

    @property
    def code(self) -> int:  # type: ignore[override]
        if isinstance(self.error, CliError):
            return self.error.exit_code
        return EXIT_USAGE if isinstance(self.error, ValueError) else EXIT_FAILURE

    @property
    def message(self) -> str:
        exc = self.error
        if self.kill_failed:
            port = getattr(exc, "port", "?")
            occupier = getattr(exc, "occupier", None)
            from ._results_live import who

            holder = "its holder" if occupier is None else who(occupier)
            hint = "" if self.forced else "; use --force to kill it outright"
            return (
                f"Port {port} is still occupied: {holder} did not exit in time; "
                f"nothing was reserved{hint}"
            )
        if isinstance(exc, PermissionError) and denied_other_user(exc):  # type: ignore[arg-type]
            pid = getattr(exc, "pid", None)
            return (
                f"refusing to signal PID {'unknown' if pid is None else pid}: it belongs to "
                "another user; use --allow-other-users (as root)"
            )
        return str(exc)

    def document(self) -> object:
        exc = self.error
        fields: dict[str, Any] = {"type": type(exc).__name__, "message": self.message}
        for name in _CONTEXT:
            try:
                value = getattr(exc, name)
            except AttributeError:
                continue
            if not callable(value):
                fields[name] = _jsonable(value)
        return {"status": "error", "error": fields}

    def human(self, style: Style) -> str:
        from .. import PortInUseError

        exc = self.error
        if isinstance(exc, PortInUseError) and not self.kill_failed:
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
