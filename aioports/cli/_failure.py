"""A failed run as a result: the error's sentence (one place for both outputs), its JSON
fields, its exit code, and under ``--json`` a ``hint``: the command that fixes it, where one
exists (``aioports repair``, or this very command with ``--force``, ``--kill`` ...)."""

from __future__ import annotations

import os

from ._errors import CliError
from ._results import PREFIX, Result, Style, printable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ._parse import Parsed

__all__ = (
    "EXIT_FAILURE",
    "EXIT_USAGE",
    "Failure",
    "Interrupted",
    "UnexpectedError",
    "explained",
    "hint_for",
    "rerun",
)

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


def rerun(parsed: Parsed, *extra: str) -> str:
    """This run's command line in its word form, with ``extra`` added: the command a hint
    names (``aioports reserve 3000 --kill --force``)."""
    import shlex

    from ._table import OPTIONS

    command = parsed.command
    assert command is not None
    words = ["aioports", command.name, *(parsed.many or parsed.args.values())]
    for name, value in parsed.options.items():
        words += [OPTIONS[name].flag] if value is True else [OPTIONS[name].flag, value]
    return shlex.join([*words, *(flag for flag in extra if flag not in words)])


def _other(parsed: Parsed | None, *words: str) -> str:
    """Another command on the same registry (``aioports repair``, with this run's
    ``--registry`` when it had one)."""
    import shlex

    registry = None if parsed is None else parsed.options.get("registry")
    extra = ["--registry", registry] if isinstance(registry, str) else []
    return shlex.join(["aioports", *words, *extra])


def hint_for(exc: BaseException, parsed: Parsed | None) -> str | None:
    """The command that fixes ``exc``, where there is one."""
    from .. import (
        DenialReason,
        KillFailedError,
        PermissionDeniedError,
        PortAlreadyAllocatedError,
        PortInUseError,
        RegistryCorruptError,
        RegistryError,
    )

    if isinstance(exc, RegistryCorruptError):
        return None if exc.newer else _other(parsed, "repair")
    if parsed is None or parsed.command is None:
        return None
    if isinstance(exc, PortAlreadyAllocatedError):
        return _other(parsed, "release", str(exc.port))
    if isinstance(exc, KillFailedError):
        return None if exc.result.signal == "SIGKILL" else rerun(parsed, "--force")
    if isinstance(exc, PortInUseError) and parsed.command.name == "reserve":
        return rerun(parsed, "--kill")
    if isinstance(exc, PermissionDeniedError) and exc.reason is DenialReason.OTHER_USER:
        return (
            None if "allow_other_users" in parsed.options else rerun(parsed, "--allow-other-users")
        )
    if type(exc) is RegistryError and parsed.command.name == "repair":
        return None if "force" in parsed.options else rerun(parsed, "--force")
    return None


class Failure(Result):
    """An error as the run's result.

    :ivar error: what was raised (after :func:`explained`)
    :ivar parsed: the command line, when it could be parsed (for the hint)
    """

    __slots__ = ("error", "parsed")

    def __init__(self, error: BaseException, *, parsed: Parsed | None = None) -> None:
        self.error, self.parsed = error, parsed

    @property
    def others_allowed(self) -> bool:
        """``--allow-other-users`` was given (so it is not the advice)."""
        return self.parsed is not None and "allow_other_users" in self.parsed.options

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
        exc = self.error
        # The class that was raised: a failed kill is a KillFailedError (which is a
        # PortInUseError, as a program catching the library's errors sees it too).
        fields: dict[str, Any] = {"type": type(exc).__name__, "message": self.message}
        for name in _CONTEXT:
            try:
                value = getattr(exc, name)
            except AttributeError:
                continue
            if not callable(value):
                fields[name] = _jsonable(value)
        hint = hint_for(exc, self.parsed)
        if hint is not None:
            fields["hint"] = hint
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
