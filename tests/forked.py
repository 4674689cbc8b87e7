"""Python children forked from an interpreter that has imported aioports already.

A fresh ``python -c`` that imports aioports costs about 0.2 s of CPU here before its first
line runs (the interpreter, asyncio, anyio, psutil, orjson, aioports); a fork of a process
that has them costs a few milliseconds (a listener: 9 ms against 33 ms for ``python -I -S``).
The tests start such children with :func:`start` instead: processes racing for one registry,
owners that get killed, lock holders, the listeners of tests/processes.py.

Each child is still a process of its own, started fresh for the test: its own PID, file
descriptors, environment, working folder, signal handling and exit status, running at the
same time as the others. What it is not is a fresh interpreter, and its parent is this
worker's zygote rather than the test: a test of start-up (which modules load, the locale,
the console script) or of who the parent is starts ``sys.executable`` itself.

The zygote is one process per pytest worker, started on first use. Over a Unix socket it
receives a request (code, arguments, environment, folder) with the child's standard streams
and forks; it reports the child's PID, with a pidfd so that signals reach that process and
no other, then its exit status. It reaps a child as soon as it exits, so unlike a Popen
child it never lingers as a zombie: a test waiting for the PID to vanish (psutil's wait)
sees it go. Where there are no pidfds (Linux before 5.3, other systems),
:func:`start` starts ``sys.executable`` instead, so the tests still run, only slower.
"""

from __future__ import annotations

import atexit
import builtins
import contextlib
import gc
import io
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import traceback
import types
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

#: what the zygote imports before it forks anything
PRELOAD = ("anyio", "anyio._backends._asyncio", "aiofiles", "orjson", "psutil", "aioports",
           "aioports._sync", "aioports.cli")  # fmt: skip

_MAX_REQUEST = 1 << 20
PIPE, DEVNULL = subprocess.PIPE, subprocess.DEVNULL


def _pidfds_work() -> bool:
    if not (hasattr(os, "pidfd_open") and hasattr(signal, "pidfd_send_signal")):
        return False
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:  # a kernel, or a seccomp filter, without them
        return False
    return True


#: whether :func:`start` forks from the zygote (else it starts ``sys.executable``)
FORKS = _pidfds_work()


# -- in the zygote --------------------------------------------------------------------------


def serve(control_fd: int) -> None:
    """The zygote's loop: fork a child per request, report each one's PID and exit status.
    Ends when the tests close their end of the socket."""
    import importlib

    sys.path.remove(str(Path(__file__).parent))  # put there only to import this module
    for name in PRELOAD:
        importlib.import_module(name)
    control = socket.socket(fileno=control_fd)
    gc.freeze()  # forked children then never copy the preloaded objects to collect them
    waiting: dict[int, tuple[int, socket.socket]] = {}  # pidfd: (pid, status channel)
    poller = select.poll()
    poller.register(control, select.POLLIN)
    control.sendall(b"ready")
    while True:
        for fd, _ in poller.poll():
            if fd != control.fileno():
                pid, status = waiting.pop(fd)
                _, wait_status = os.waitpid(pid, 0)
                with contextlib.suppress(OSError):  # the test has stopped listening
                    status.send(str(os.waitstatus_to_exitcode(wait_status)).encode())
                status.close()
                poller.unregister(fd)
                os.close(fd)
                continue
            message, fds, _, _ = socket.recv_fds(control, _MAX_REQUEST, 4)
            if not message:
                return
            stdio, status = fds[:3], socket.socket(fileno=fds[3])
            pid = os.fork()
            if pid == 0:
                try:
                    _child(json.loads(message), stdio)
                finally:  # never back into this loop, whatever went wrong
                    os._exit(70)
            pidfd = os.pidfd_open(pid)
            for f in stdio:
                os.close(f)
            with contextlib.suppress(OSError):  # the test is gone: still reap the child
                socket.send_fds(status, [str(pid).encode()], [pidfd])
            waiting[pidfd] = (pid, status)
            poller.register(pidfd, select.POLLIN)


def _child(request: dict[str, Any], stdio: list[int]) -> None:
    """In the forked child: take the given streams, environment and folder, run the code
    as ``python -c`` would, and exit with the status it would have."""
    for target, fd in enumerate(stdio):
        os.dup2(fd, target)
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))  # the zygote's socket, pidfds and channels
    if request["new_session"]:
        os.setsid()
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    script = request["script"]
    # sys.path as the interpreter starts it: first '' for -c, the script's folder for a script.
    first = "" if script is None else os.path.dirname(os.path.abspath(script))
    sys.path[:] = [first, *(entry for entry in sys.path if entry != "")]
    sys.argv = ["-c" if script is None else script, *request["args"]]
    # New streams on the new descriptors, as the interpreter makes them at start-up.
    sys.stdin = _text(0, "rb", "strict", line_buffering=False)
    sys.stdout = _text(1, "wb", "strict", line_buffering=os.isatty(1))
    sys.stderr = _text(2, "wb", "backslashreplace", line_buffering=True)
    main = types.ModuleType("__main__")
    main.__dict__["__builtins__"] = builtins
    if script is not None:
        main.__file__ = script
    sys.modules["__main__"] = main
    code = 0
    try:
        exec(compile(request["code"], script or "<string>", "exec"), main.__dict__)
    except SystemExit as stop:
        code = _exit_code(stop)
    except KeyboardInterrupt as error:
        _print_traceback(error)
        code = -signal.SIGINT
    except BaseException as error:
        _print_traceback(error)
        code = 1
    with contextlib.suppress(BaseException):  # what the interpreter does on its way out
        threading._shutdown()  # type: ignore[attr-defined]
        atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BaseException):
            stream.flush()
    if code == -signal.SIGINT:  # as the interpreter does: die of the signal
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    os._exit(code)


def _print_traceback(error: BaseException) -> None:
    """As the interpreter prints it: from the code's first frame, not this module's."""
    tb = error.__traceback__.tb_next if error.__traceback__ is not None else None
    traceback.print_exception(type(error), error, tb)


def _text(fd: int, mode: str, errors: str, *, line_buffering: bool) -> io.TextIOWrapper:
    raw = open(fd, mode, closefd=False)  # noqa: SIM115
    return io.TextIOWrapper(raw, encoding="utf-8", errors=errors, line_buffering=line_buffering)


def _exit_code(stop: SystemExit) -> int:
    if stop.code is None:
        return 0
    if isinstance(stop.code, int):
        return stop.code & 0xFF
    sys.stderr.write(f"{stop.code}\n")
    return 1


# -- in the tests -----------------------------------------------------------------------------


class _Zygote:
    """This worker's zygote, started on first use and ended when the worker exits."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        here = str(Path(__file__).parent)
        fd = theirs.fileno()
        source = f"import sys; sys.path.insert(0, {here!r}); import forked; forked.serve({fd})"
        self.process = subprocess.Popen(
            [sys.executable, "-c", source], stdin=subprocess.DEVNULL, pass_fds=[fd], cwd="/"
        )
        theirs.close()
        self.control = ours
        self.lock = threading.Lock()
        ready = ours.recv(16)
        assert ready == b"ready", "the zygote did not start"
        atexit.register(self.close)

    def fork(self, request: dict[str, Any], stdio: list[int]) -> tuple[int, int, socket.socket]:
        status, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with self.lock:
            socket.send_fds(self.control, [json.dumps(request).encode()], [*stdio, theirs.fileno()])
        theirs.close()
        message, fds, _, _ = socket.recv_fds(status, 64, 1)
        assert message, "the zygote did not fork"
        assert fds, "the zygote sent no pidfd"
        return int(message), fds[0], status

    def close(self) -> None:
        self.control.close()
        self.process.wait(timeout=30)


_zygote: _Zygote | None = None


def _stream(spec: int | IO[Any] | None, default: int, mode: str) -> tuple[int, int | None]:
    """The fd the child gets for one stream, and the read or write end the test keeps."""
    if spec == PIPE:
        read, write = os.pipe()
        return (write, read) if mode == "w" else (read, write)
    if spec == DEVNULL:
        return os.open(os.devnull, os.O_RDWR), None
    if spec is None:
        return os.dup(default), None
    return os.dup(spec if isinstance(spec, int) else spec.fileno()), None


class Forked:
    """A forked child, with the part of :class:`subprocess.Popen` the tests use."""

    def __init__(
        self, pid: int, pidfd: int, status: socket.socket, pipes: list[int | None], args: list[str]
    ) -> None:
        self.pid = pid
        self.args = args
        self.returncode: int | None = None
        self._pidfd = pidfd
        self._status = status
        stdin, stdout, stderr = pipes
        self.stdin = None if stdin is None else open(stdin, "w", encoding="utf-8")  # noqa: SIM115
        self.stdout = None if stdout is None else open(stdout, encoding="utf-8")  # noqa: SIM115
        self.stderr = None if stderr is None else open(stderr, encoding="utf-8")  # noqa: SIM115

    def poll(self) -> int | None:
        return self._wait(0)

    def wait(self, timeout: float | None = None) -> int:
        code = self._wait(timeout)
        if code is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0)
        return code

    def _wait(self, timeout: float | None) -> int | None:
        if self.returncode is None:
            ready, _, _ = select.select([self._status], [], [], timeout)
            if not ready:
                return None
            message = self._status.recv(64)
            assert message, "the zygote ended before its child"
            self.returncode = int(message)
            self._status.close()
            os.close(self._pidfd)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        """Signal the child through its pidfd: once it has exited, nothing is signalled."""
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self._pidfd, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        """Close stdin, read stdout and stderr to their end and close them (each in a
        thread, as neither may block the other), then wait for the exit."""
        if self.stdin is not None:
            self.stdin.close()
        got: dict[str, str] = {}

        def read(name: str, stream: IO[str]) -> None:
            with stream:
                got[name] = stream.read()

        readers = [
            threading.Thread(target=read, args=(name, stream))
            for name, stream in (("out", self.stdout), ("err", self.stderr))
            if stream is not None
        ]
        for reader in readers:
            reader.start()
        for reader in readers:
            reader.join(timeout)
            if reader.is_alive():
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
        self.wait(timeout)
        return got.get("out", ""), got.get("err", "")


def start(
    code: str,
    *args: str,
    stdin: int | IO[Any] | None = DEVNULL,
    stdout: int | IO[Any] | None = PIPE,
    stderr: int | IO[Any] | None = PIPE,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    start_new_session: bool = False,
    script: str | Path | None = None,
) -> Child:
    """Start ``python -c code args`` as a child forked from the zygote, or with ``script``,
    ``python script args`` where ``code`` is the script's text. The streams take what
    :class:`subprocess.Popen` takes (``PIPE``, ``DEVNULL``, ``None`` to share the test's, a
    file); ``env`` defaults to the test's environment now."""
    if not FORKS:
        command = ["-c", code] if script is None else [str(script)]
        return subprocess.Popen(
            [sys.executable, *command, *args], stdin=stdin, stdout=stdout, stderr=stderr,
            env=env, cwd=cwd, start_new_session=start_new_session, text=True,
        )  # fmt: skip
    global _zygote
    if _zygote is None:
        _zygote = _Zygote()
    ends = [_stream(stdin, 0, "r"), _stream(stdout, 1, "w"), _stream(stderr, 2, "w")]
    request = {
        "code": code,
        "args": list(args),
        "env": dict(os.environ if env is None else env),
        "cwd": str(cwd if cwd is not None else os.getcwd()),
        "new_session": start_new_session,
        "script": None if script is None else str(script),
    }
    try:
        pid, pidfd, status = _zygote.fork(request, [child for child, _ in ends])
    finally:
        for child, _ in ends:
            os.close(child)
    command = ["-c", code] if script is None else [str(script)]
    return Forked(pid, pidfd, status, [kept for _, kept in ends], [*command, *args])


def run(code: str, *args: str, env: Mapping[str, str] | None = None, timeout: float = 120) -> str:
    """Run ``python -c code args`` forked from the zygote; its stdout. Fails the test if it
    exits with anything but 0."""
    child = start(code, *args, env=env)
    try:
        out, err = child.communicate(timeout=timeout)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
    assert child.returncode == 0, err
    return out


#: what :func:`start` returns: a forked child, or where nothing forks, a Popen one
Child = Forked | subprocess.Popen[str]

__all__ = ["DEVNULL", "PIPE", "Child", "Forked", "run", "start"]
