"""Real processes and sockets for the tests: children that listen, and ways to end them."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

LISTENER = textwrap.dedent(
    """
    import socket, sys, time
    family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind((sys.argv[1], int(sys.argv[2])))
    s.listen()
    print(s.getsockname()[1], flush=True)
    time.sleep(600)
    """
)


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS says is free right now (the tests' own ground truth)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _ephemeral_start() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as file:
            return int(file.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_block(size: int) -> int:
    """The first port of ``size`` consecutive ports that are all bindable now.

    Drawn below the kernel's ephemeral range, where no outgoing connection or bind(0) of
    another program lands by chance while a test holds the block.
    """
    top = _ephemeral_start() - size
    for _ in range(500):
        start = random.randint(10_000, max(10_001, top))
        if all(bindable(p) for p in range(start, start + size)):
            return start
    raise RuntimeError(f"found no {size} consecutive free ports")


def bindable(port: int) -> bool:
    """Ground truth: can a server listen on the wildcard addresses, IPv4 and IPv6?"""
    socks = []
    try:
        for family, host in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
            sock = socket.socket(family, socket.SOCK_STREAM)
            socks.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind((host, port))
            sock.listen()
    except OSError:
        return False
    finally:
        for sock in socks:
            sock.close()
    return True


@contextlib.contextmanager
def listener_process(host: str = "127.0.0.1", port: int = 0) -> Iterator[tuple[int, int]]:
    """A child process listening on ``host:port``; yields ``(pid, port)`` once it listens."""
    proc = subprocess.Popen(
        [sys.executable, "-c", LISTENER, host, str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip(), "the listener child exited before listening"
        yield proc.pid, int(line)
    finally:
        reap(proc)


def reap(proc: subprocess.Popen[str]) -> None:
    """End a child this test started, and wait for it."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    if proc.stdout is not None:
        proc.stdout.close()


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


def registry_bytes(path: Path) -> bytes:
    return path.read_bytes()


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
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(lock_path), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        yield
    finally:
        reap(holder)
