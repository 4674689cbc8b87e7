"""``main()``: parse, run one handler, show its one result, and turn every failure into a
message and an exit code. It returns the code and never calls ``sys.exit``.

Start-up is most of what a quick command costs, so this module imports only what the
interpreter has already loaded: ``--version`` answers before anything else is imported,
``--help`` needs only the command table, and each handler imports its own needs.
"""

from __future__ import annotations

import io
import os
import sys

from .._version import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import TextIO

    from ._results import Result, Style

__all__ = ("main",)

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


class _Stop(BaseException):
    """Raised in the main thread by the SIGTERM handler, as Ctrl-C raises KeyboardInterrupt."""


def _stop(signum: int, frame: object) -> None:
    raise _Stop


def _on_sigterm() -> object:
    """Turn SIGTERM into :class:`_Stop` for this run (main thread only); the old handler."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _stop)


_VERSION_JSON = '{{\n  "status": "ok",\n  "version": "{}"\n}}\n'
_VERSION_LINE = '{{"status":"ok","version":"{}"}}\n'


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``aioports`` command line.

    :param argv: the arguments after the program name; default ``sys.argv[1:]``
    :return: the exit code: 0 success, 1 failure, 2 bad arguments, 130 interrupted,
        143 terminated (SIGTERM)
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
    # What follows ``--`` is somebody else's command line (``run -- tool --json``).
    own = arguments[: arguments.index("--")] if "--" in arguments else arguments
    json_mode = "--json" in own
    previous = _on_sigterm()
    try:
        code = _run(arguments, out, err, json_mode=json_mode)
        out.flush()
        return code
    except KeyboardInterrupt:
        _stopped(out, err, json_mode, "interrupted")
        return EXIT_INTERRUPTED
    except _Stop:
        _stopped(out, err, json_mode, "terminated")
        return EXIT_TERMINATED
    except BrokenPipeError:
        # The reader went away (``aioports list | head -1``): stop quietly, and keep the
        # interpreter's final flush from complaining about the closed pipe.
        _discard(out)
        return EXIT_FAILURE
    except OSError as exc:  # writing the result failed: a full disk (ENOSPC), EIO ...
        _discard(out)
        _complain(err, f"cannot write to standard output: {exc.strerror or exc}")
        return EXIT_FAILURE
    except Exception as exc:  # a result that failed to render: still no traceback
        _complain(err, f"unexpected {type(exc).__name__}: {exc}")
        return EXIT_FAILURE
    finally:
        if previous is not None:
            import signal

            signal.signal(signal.SIGTERM, previous)  # type: ignore[arg-type]


def _stopped(out: TextIO, err: TextIO, json_mode: bool, how: str) -> None:
    """Say that a signal stopped the run: one JSON error document, or one line."""
    try:
        if json_mode:
            from ._failure import Failure, Interrupted, Terminated

            kind = Interrupted if how == "interrupted" else Terminated
            _emit(out, Failure(kind(how)).document())
            out.flush()
        else:
            err.write(f"aioports: {how}\n")
    except Exception:
        pass


def _run(arguments: list[str], out: TextIO, err: TextIO, *, json_mode: bool) -> int:
    if [a for a in arguments if a != "--json"] in (["--version"], ["version"]):
        if json_mode:
            shape = _VERSION_JSON if _terminal(out) else _VERSION_LINE
            out.write(shape.format(__version__))
        else:
            out.write(f"aioports {__version__}\n")
        return EXIT_OK
    result = _result(arguments, out, err)
    if result is None:
        return EXIT_OK
    if json_mode:
        document = result.document()
        if document is not None:  # None: a run whose stdout is somebody else's (``run``)
            _emit(out, document)
    else:
        # ``-q`` cannot be a value (values never look like options), so it was given.
        own = arguments[: arguments.index("--")] if "--" in arguments else arguments
        quiet = "-q" in own or "--quiet" in own
        result.show(out, err, _style(out), quiet=quiet)
    return result.code


def _result(arguments: list[str], out: TextIO, err: TextIO) -> Result | None:
    """The run's one result: the handler's, or the failure; None once help was shown."""
    parsed = None
    try:
        from ._parse import parse

        parsed = None if not arguments else parse(arguments)
        if parsed is None or parsed.help or parsed.command is None:
            from ._help import help_text

            out.write(help_text(None if parsed is None else parsed.command))
            return None
        command = parsed.command
        if command.name == "cleanup" and "yes" not in parsed.options:
            from ._results import Cancelled

            # No terminal to ask (an agent, a script): removing every worktree's ports,
            # live test leases included, takes an explicit --yes.
            if sys.stdin is None or not sys.stdin.isatty():
                return Cancelled(asked=False)
            if not _confirm(err, parsed.options):
                return Cancelled(asked=True)
        from ._context import Context

        return command.handler(Context(parsed, progress=err if err.isatty() else None))
    except (KeyboardInterrupt, BrokenPipeError, _Stop):
        raise
    except BaseException as exc:
        error = _leaf(exc)
        if isinstance(error, (KeyboardInterrupt, BrokenPipeError, _Stop)):
            raise error from None
        if not isinstance(error, Exception):
            raise
        from ._failure import Failure, explained

        return Failure(explained(error), parsed=parsed)


def _leaf(exc: BaseException) -> BaseException:
    """The one error inside (nested) single-error groups, as task groups raise them."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def _style(out: TextIO) -> Style:
    from ._results import Style

    terminal = out.isatty() and not os.environ.get("NO_COLOR")
    utf8 = (getattr(out, "encoding", None) or "").lower().replace("-", "") == "utf8"
    # Python makes stdout UTF-8 in the C locale (PEP 538/540), but a user who chose C or
    # POSIX asked for plain text: the first of LC_ALL, LC_CTYPE, LANG that is set decides.
    chosen = next((os.environ[k] for k in ("LC_ALL", "LC_CTYPE", "LANG") if os.environ.get(k)), "")
    plain = chosen in ("C", "POSIX")
    return Style(
        colour=terminal and os.environ.get("TERM") != "dumb",
        emoji=terminal and utf8 and not plain,
    )


def _terminal(out: TextIO) -> bool:
    try:
        return out.isatty()
    except (OSError, ValueError):
        return False


def _emit(out: TextIO, document: object) -> None:
    """Exactly one JSON document, as UTF-8 bytes on ``out.buffer`` when the stream has one,
    so what agents read never depends on the locale's encoding: indented for a person at a
    terminal, one compact line for a program reading a pipe or a file."""
    import orjson

    indent = _terminal(out)
    option = orjson.OPT_APPEND_NEWLINE | (orjson.OPT_INDENT_2 if indent else 0)
    try:
        data = orjson.dumps(document, option=option)
    except orjson.JSONEncodeError:
        # A lone surrogate: an argument that was not valid in the locale's encoding.
        # The stdlib escapes it (``\\udcff``) where orjson refuses.
        import json

        if indent:
            data = json.dumps(document, indent=2).encode() + b"\n"
        else:
            data = json.dumps(document, separators=(",", ":")).encode() + b"\n"
    from ._results import write_all

    write_all(out, data)


def _confirm(err: TextIO, options: dict[str, str | bool]) -> bool:
    """Ask on the terminal before removing allocations; anything but yes is no."""
    picked = [f"--{n} {options[n]}" for n in ("app", "worktree", "service") if n in options]
    what = f"the allocations of {' '.join(picked)}" if picked else "every allocation"
    err.write(f"aioports: Remove {what} from the registry? [y/N] ")
    err.flush()
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")


def _complain(err: TextIO, message: str) -> None:
    try:
        err.write(f"aioports: error: {message}\n")
        err.flush()
    except Exception:
        pass


def _tolerate_unencodable(stream: TextIO) -> None:
    """Let a stream that cannot encode a character (an ASCII locale) write an escape
    (``\\u2615``) instead of failing: an app name must never cause a traceback."""
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is not None:
        try:  # noqa: SIM105 - contextlib is not loaded at start-up
            reconfigure(errors="backslashreplace")
        except Exception:
            pass


def _discard(out: TextIO) -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass
