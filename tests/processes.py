"""Every child process the tests start, and the one way each is ended and reaped.

Listeners (:func:`spawn`, :func:`listener_process`) bind a loopback port, then print one line
(the port, then any PIDs they forked) as their readiness signal; the code they run after the
prelude decides how they behave when a kill goes wrong. :func:`spawn` ends whatever is left of
them, and only them, afterwards. :func:`registry_locked_elsewhere` holds a registry's lock in
another process; :func:`run_python` runs code in a fresh interpreter; :func:`reap` ends and
waits for any child a test started itself. Listeners and lock holders are forked from the
worker's zygote (:mod:`forked`): their parent is the zygote, whose parent is the test.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

import forked
import psutil
import pytest

#: For tests that stop a child with SIGINT (Ctrl-C): where pytest runs with SIGINT ignored
#: (``nohup``, a background job without job control), its children inherit that.
needs_sigint = pytest.mark.skipif(
    signal.getsignal(signal.SIGINT) is signal.SIG_IGN,
    reason="pytest runs with SIGINT ignored (nohup, or a background job without job "
    "control): its children inherit that, so Ctrl-C cannot reach them",
)

_PRELUDE = """
import os, signal, socket, sys, time
host, port = sys.argv[1], int(sys.argv[2])
if len(sys.argv) > 3:  # become that user before creating anything
    os.setgid(int(sys.argv[3]))
    os.setuid(int(sys.argv[3]))
family = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.socket(family, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
if family == socket.AF_INET6:
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
s.bind((host, port))
s.listen()
port = s.getsockname()[1]
"""

#: Exits on SIGTERM (the default action).
POLITE = """
print(port, flush=True)
time.sleep(600)
"""

#: Ignores SIGTERM; only SIGKILL ends it.
STUBBORN = """
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print(port, flush=True)
time.sleep(600)
"""

#: On SIGTERM, takes a moment to shut down, then closes its socket and exits by itself.
GRACEFUL = """
def stop(*_):
    time.sleep(0.2)
    s.close()
    os._exit(0)
signal.signal(signal.SIGTERM, stop)
print(port, flush=True)
time.sleep(600)
"""

#: A pre-forking server: the parent and two forked workers share the listening socket.
FORKED = """
children = []
for _ in range(2):
    pid = os.fork()
    if pid == 0:
        time.sleep(600)
        os._exit(0)
    children.append(pid)
print(port, *children, flush=True)
time.sleep(600)
"""

#: A parent that forks a listening child and never reaps it: a killed child stays a zombie.
NEGLECTFUL = """
pid = os.fork()
if pid == 0:
    time.sleep(600)
    os._exit(0)
s.close()
print(port, pid, flush=True)
time.sleep(600)
"""


@dataclass(frozen=True, slots=True)
class Child:
    """A started child: its PID, the port it holds and the PIDs it forked."""

    pid: int
    port: int
    forked: tuple[int, ...]

    @property
    def pids(self) -> set[int]:
        return {self.pid, *self.forked}


@contextlib.contextmanager
def spawn(
    code: str, host: str = "127.0.0.1", port: int = 0, *, user: int | None = None
) -> Iterator[Child]:
    """Run ``code`` in a child, after a prelude that listens on ``host:port`` (``s`` is the
    socket, ``port`` its port), as ``user`` (a uid) if given: the child switches to it
    before it binds. Yields once the child listens.

    Afterwards SIGKILLs the child and the processes it forked, each only if it is still the
    very process that was started (PID and start time), and reaps the child.
    """
    # Forked (tests/forked.py): a listener is a process of its own, named as the interpreter.
    args = [host, str(port)] + ([] if user is None else [str(user)])
    proc = forked.start(_PRELUDE + textwrap.dedent(code), *args, stderr=None)
    ours: list[psutil.Process] = []
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().split()
        assert line, "the child exited before listening"
        others = tuple(int(pid) for pid in line[1:])
        for pid in others:
            with contextlib.suppress(psutil.NoSuchProcess):
                ours.append(psutil.Process(pid))
        yield Child(pid=proc.pid, port=int(line[0]), forked=others)
    finally:
        for child in ours:
            with contextlib.suppress(psutil.NoSuchProcess):
                if child.is_running():  # the same process: psutil checks the start time
                    child.send_signal(signal.SIGKILL)
        reap(proc)


@contextlib.contextmanager
def listener_process(host: str = "127.0.0.1", port: int = 0) -> Iterator[tuple[int, int]]:
    """A child process listening on ``host:port``; yields ``(pid, port)`` once it listens."""
    with spawn(POLITE, host, port) as child:
        yield child.pid, child.port


class Started(Protocol):
    """What :func:`reap` needs of a child: a :class:`subprocess.Popen`, or a
    :class:`forked.Forked`."""

    def poll(self) -> int | None: ...
    def send_signal(self, sig: int) -> None: ...
    def wait(self, timeout: float | None = None) -> int: ...

    @property
    def stdin(self) -> IO[str] | None: ...
    @property
    def stdout(self) -> IO[str] | None: ...
    @property
    def stderr(self) -> IO[str] | None: ...


def reap(proc: Started) -> None:
    """End a child this test started (SIGKILL if it still runs), wait for it, close its pipes."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


def alive(pid: int) -> bool:
    """Running and not a zombie."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def exited_pid() -> int:
    """The PID of a child that has exited and been reaped (a vanished process)."""
    proc = forked.start("pass", stdout=forked.DEVNULL, stderr=forked.DEVNULL)
    proc.wait(timeout=30)
    return proc.pid


def run_python(code: str, *args: str, env: dict[str, str] | None = None) -> str:
    """Run ``code`` in a fresh interpreter, returning its stdout; fails the test on error."""
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


HOLD_LOCK = textwrap.dedent(
    """
    import fcntl, os, sys, time
    fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
    """
)


@contextlib.contextmanager
def registry_locked_elsewhere(registry: Path, seconds: float = 600) -> Iterator[None]:
    """Another process holds the registry's lock for ``seconds`` (or until the block ends)."""
    registry.parent.mkdir(parents=True, exist_ok=True)
    lock_path = registry.with_name(registry.name + ".lock")
    holder = forked.start(HOLD_LOCK, str(lock_path), str(seconds))
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        yield
    finally:
        reap(holder)
