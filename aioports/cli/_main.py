"""``main()``: parse, run one handler under ``anyio.run``, render, and turn every failure
into a message and an exit code. It returns the code and never calls ``sys.exit``."""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
from collections.abc import Sequence
from typing import TextIO

import anyio

from .. import AioportsError, PermissionDeniedError, PortManager, __version__
from .._config import DEFAULT_RANGE
from ._commands import HANDLERS, Context
from ._errors import CliError, UsageError
from ._parser import HELP_HINT, HelpShown, build_parser, command_of, parse
from ._render import HumanRenderer, Renderer
from ._render_json import JsonRenderer

__all__ = ("main",)

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``aioports`` command line.

    :param argv: the arguments after the program name; default ``sys.argv[1:]``
    :return: the exit code: 0 success, 1 failure, 2 bad arguments, 130 interrupted
    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    # Without a stderr (``2>&-``) complaints go nowhere; they must not fail in turn.
    err: TextIO = sys.stderr if sys.stderr is not None else io.StringIO()
    out = sys.stdout
    if out is None:  # started with stdout closed (``>&-``): nowhere to put the result
        _complain(err, "standard output is closed")
        return EXIT_FAILURE
    for stream in (out, err):
        _tolerate_unencodable(stream)
    json_mode = "--json" in arguments
    renderer: Renderer | None = None
    try:
        renderer = _renderer(arguments, out, err)
        code = _run(arguments, renderer, err)
        out.flush()
        return code
    except KeyboardInterrupt:
        with contextlib.suppress(Exception):
            if json_mode and renderer is not None:
                renderer.error(Interrupted("interrupted"))
                out.flush()
            else:
                err.write("aioports: interrupted\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (``aioports --list | head -1``): stop quietly, and keep
        # the interpreter's final flush from complaining about the closed pipe.
        _discard(out)
        return EXIT_FAILURE
    except OSError as exc:  # writing the result failed: a full disk (ENOSPC), EIO ...
        _discard(out)
        _complain(err, f"cannot write to standard output: {exc.strerror or exc}")
        return EXIT_FAILURE


class Interrupted(CliError):
    """Ctrl-C (SIGINT): the run stopped before it finished (exit code 130)."""

    exit_code = EXIT_INTERRUPTED


def _complain(err: TextIO, message: str) -> None:
    with contextlib.suppress(Exception):
        err.write(f"aioports: error: {message}\n")
        err.flush()


def _tolerate_unencodable(stream: TextIO) -> None:
    """Let a stream that cannot encode a character (an ASCII locale) write an escape
    (``\\u2615``) instead of failing: an app name must never cause a traceback."""
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is not None:
        with contextlib.suppress(Exception):
            reconfigure(errors="backslashreplace")


def _renderer(arguments: Sequence[str], out: TextIO, err: TextIO) -> Renderer:
    if "--json" in arguments:
        return JsonRenderer(out)
    terminal = out.isatty() and not os.environ.get("NO_COLOR")
    utf8 = (getattr(out, "encoding", None) or "").lower().replace("-", "") == "utf8"
    colour = terminal and os.environ.get("TERM") != "dumb"
    return HumanRenderer(out, err, colour=colour, emoji=terminal and utf8)


def _run(arguments: Sequence[str], renderer: Renderer, err: TextIO) -> int:
    try:
        if not arguments:
            build_parser().print_help()
            return EXIT_OK
        args = parse(arguments)
        command = command_of(args)
        if command is None:
            raise UsageError(f"no command given {HELP_HINT}")
        if command == "version":
            renderer.version(__version__)
            return EXIT_OK
        if command == "cleanup" and not args.yes and sys.stdin.isatty() and not _confirm(err):
            renderer.cleanup_cancelled()
            return EXIT_FAILURE
        # The default range is read by the handlers that need it (Context.setting), so a
        # broken $AIOPORTS_RANGE or config.json blocks only those.
        pm = PortManager(range=DEFAULT_RANGE)
        progress = err if err.isatty() else None
        outcome = anyio.run(HANDLERS[command], Context(pm=pm, args=args, progress=progress))
    except HelpShown:
        return EXIT_OK
    except (KeyboardInterrupt, BrokenPipeError):
        raise
    except BaseException as exc:
        error = _leaf(exc)
        if isinstance(error, (KeyboardInterrupt, BrokenPipeError)):
            raise error from None
        if not isinstance(error, Exception):
            raise
        renderer.error(_explained(error))
        return _exit_code(error)
    for note in outcome.notes:
        err.write(f"aioports: {note}\n")
    outcome.show(renderer)
    return outcome.code


def _leaf(exc: BaseException) -> BaseException:
    """The one error inside (nested) single-error groups, as task groups raise them."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def _explained(exc: Exception) -> Exception:
    """Errors the user can act on pass as they are (worded for the command line); anything
    else is labelled unexpected."""
    if isinstance(exc, PermissionDeniedError) and "allow_other_users" in str(exc):
        # The library speaks to Python callers; here the knob is a flag.
        message = _PYTHON_KNOB.sub("use --allow-other-users (as root)", str(exc))
        worded = PermissionDeniedError(message, pid=exc.pid)
        worded.__cause__ = exc
        return worded
    if isinstance(exc, (AioportsError, CliError, ValueError, OSError)):
        return exc
    hint = "" if os.environ.get("AIOPORTS_DEBUG") == "1" else " (AIOPORTS_DEBUG=1 shows details)"
    wrapped = UnexpectedError(f"unexpected {type(exc).__name__}: {exc}{hint}")
    wrapped.__cause__ = exc  # AIOPORTS_DEBUG=1 then shows the original traceback
    return wrapped


_PYTHON_KNOB = re.compile(r"(?:as root, )?pass allow_other_users=True(?: to allow it)?")


class UnexpectedError(CliError):
    """An error aioports did not expect; with ``AIOPORTS_DEBUG=1`` its traceback is shown."""


def _exit_code(exc: Exception) -> int:
    if isinstance(exc, CliError):
        return exc.exit_code
    if isinstance(exc, ValueError):
        return EXIT_USAGE
    return EXIT_FAILURE


def _confirm(err: TextIO) -> bool:
    """Ask on the terminal before removing every allocation; anything but yes is no."""
    err.write("aioports: Remove every allocation from the registry? [y/N] ")
    err.flush()
    try:
        answer = sys.stdin.readline()
    except EOFError:  # pragma: no cover - readline returns "" at the end of input
        return False
    return answer.strip().lower() in ("y", "yes")


def _discard(out: TextIO) -> None:
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())
        os.close(devnull)
