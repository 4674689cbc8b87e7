"""``aioports wait PORT``: until a server listens on the port (or, with ``--free``, until one
could start there); the handler and its result.

Its result is in ``_results_wait.py``. The argument is named ``target``, not ``port``: a
service name (``shop/web``) will be accepted there once named ports land; a port number is
what it takes today.

Like every handler module, nothing is imported at the top but what the interpreter has
already loaded.
"""

from __future__ import annotations

from ._errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._context import Context
    from ._results import Result

__all__ = ("DEFAULT_TIMEOUT", "pid_arg", "seconds_arg", "target_port", "wait")

#: how long ``aioports wait`` waits unless ``--timeout`` says otherwise, in seconds
DEFAULT_TIMEOUT = 60.0
DEFAULT_INTERVAL = 0.1


def seconds_arg(ctx: Context, name: str, default: float) -> float:
    """Option ``name`` in seconds, which must be > 0 here (the parser refused -1, nan and
    words already); ``default`` when not given.

    :raises InvalidArgumentError: for 0 (exit code 2).
    """
    from .._errors import InvalidArgumentError

    text = ctx.text(name)
    if text is None:
        return default
    value = float(text)
    if value == 0:  # named as typed (``0``, ``0.0``, `` 0 ``), as the parser names its refusals
        message = f"--{name} must be a finite number of seconds > 0, got {text!r}"
        raise InvalidArgumentError(f"--{name}", value, message)
    return value


def pid_arg(text: str | None, flag: str) -> int | None:
    """A PID of a running process from the command line, or None when not given.

    :raises UsageError: when it is no whole number, or no such process runs.
    """
    import os

    from ._commands import count_arg

    if text is None:
        return None
    pid = count_arg(text, flag)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        raise UsageError(f"{flag} {pid}: no such process") from None
    except PermissionError:
        pass  # another user's: it exists
    return pid


def target_port(text: str) -> int:
    """The port of ``wait PORT``.

    :raises InvalidPortError: for a number that is no port.
    :raises UsageError: for a name: service names need named ports, which are not here yet.
    """
    from ._commands import port_arg

    digits = text.strip()
    if digits.lstrip("-").isdigit() or not digits:
        return port_arg(text)
    raise UsageError(
        f"wait takes a port number, got {text!r} (service names are not supported yet)"
    )


def wait(ctx: Context) -> Result:
    from ._results_wait import Waited

    port = target_port(ctx.arg("target"))
    timeout = seconds_arg(ctx, "timeout", DEFAULT_TIMEOUT)
    interval = seconds_arg(ctx, "interval", DEFAULT_INTERVAL)
    door = ctx.door()
    if ctx.flag("free"):
        if ctx.text("pid") is not None:
            raise UsageError("--pid names who must listen: it does not go with --free")
        return Waited(door.wait_until_free(port, timeout=timeout, interval=interval))
    pid = pid_arg(ctx.text("pid"), "--pid")
    return Waited(door.wait_until_listening(port, timeout=timeout, pid=pid, interval=interval))
