"""``main()``: parse, run one handler under ``anyio.run``, render, and turn every failure
into a message and an exit code. It returns the code and never calls ``sys.exit``."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Sequence
from typing import TextIO

import anyio

from .. import AioportsError, PortManager, __version__
from ._commands import HANDLERS, Context
from ._errors import CliError, UsageError
from ._parser import HelpShown, build_parser, command_of, parse
from ._render import HumanRenderer, Renderer
from ._render_json import JsonRenderer
from ._settings import effective_range

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
    out, err = sys.stdout, sys.stderr
    try:
        renderer = _renderer(arguments, out, err)
        code = _run(arguments, renderer, err)
        out.flush()
        return code
    except KeyboardInterrupt:
        with contextlib.suppress(OSError):
            err.write("aioports: interrupted\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (``aioports --list | head -1``): stop quietly, and keep
        # the interpreter's final flush from complaining about the closed pipe.
        _discard(out)
        return EXIT_FAILURE


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
            raise UsageError("no command given")
        if command == "version":
            renderer.version(__version__)
            return EXIT_OK
        if command == "cleanup" and not args.yes and sys.stdin.isatty() and not _confirm(err):
            renderer.cleanup_cancelled()
            return EXIT_FAILURE
        pm = PortManager()
        progress = err if err.isatty() else None
        setting = effective_range(pm.registry_path, dict(os.environ))
        pm.set_range(setting.range)
        outcome = anyio.run(
            HANDLERS[command], Context(pm=pm, args=args, setting=setting, progress=progress)
        )
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
    """Errors the user can act on pass as they are; anything else is labelled unexpected."""
    if isinstance(exc, (AioportsError, CliError, ValueError, OSError)):
        return exc
    hint = "" if os.environ.get("AIOPORTS_DEBUG") == "1" else " (AIOPORTS_DEBUG=1 shows details)"
    wrapped = UnexpectedError(f"unexpected {type(exc).__name__}: {exc}{hint}")
    wrapped.__cause__ = exc  # AIOPORTS_DEBUG=1 then shows the original traceback
    return wrapped


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
