"""Ports for the tests, asked of the OS: free ones, free blocks, and whether one is bindable.

Child processes live in :mod:`processes`.
"""

from __future__ import annotations

import os
import random
import socket

from aioports._hygiene import excluded_ports


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS says is free right now (the tests' own ground truth)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _ephemeral_range() -> tuple[int, int]:
    """The kernel's ephemeral range (where outgoing connections get their local port)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as file:
            first, last = file.read().split()[:2]
            return int(first), int(last)
    except (OSError, ValueError):
        return 32768, 60999


#: the lowest port a block starts at: above the well-known ports servers on this host may use
_BLOCKS_FROM = 10_000


def _worker_slice() -> tuple[int, int]:
    """This pytest-xdist worker's own share ``(lo, hi)`` of the ports below the ephemeral
    range: workers of one run never draw overlapping blocks (each test would otherwise see
    another worker's listener inside its "free" block now and then)."""
    lo, hi = _BLOCKS_FROM, _ephemeral_range()[0]
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # gw0, gw1, ...
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if not worker.startswith("gw") or count <= 1:
        return lo, hi
    width = (hi - lo) // count
    index = int(worker[2:]) % count
    return lo + index * width, lo + (index + 1) * width


class _Blocks:
    """Hands out blocks one after another through this worker's slice, from a random point
    (runs started at once on this host, say in two worktrees, rarely meet): two blocks one
    test asks for never overlap, and a block comes back only after the slice wraps."""

    def __init__(self) -> None:
        self._next: int | None = None

    def take(self, size: int) -> int:
        lo, hi = _worker_slice()
        if hi - lo < size:
            raise RuntimeError(f"no room for {size} ports in {lo}-{hi - 1}")
        if self._next is None:
            self._next = random.randrange(lo, hi)
        excluded = excluded_ports()
        for _ in range(500):
            start = self._next if lo <= self._next <= hi - size else lo
            self._next = start + size
            ports = range(start, start + size)
            if excluded.isdisjoint(ports) and all(_untouched(p) for p in ports):
                return start
        raise RuntimeError(f"found no {size} consecutive free ports in {lo}-{hi - 1}")


# One per test process: the cursor is what keeps one worker's blocks apart.
_BLOCKS = _Blocks()


def free_block(size: int) -> int:
    """The first port of ``size`` consecutive ports that are all bindable now, with nothing
    on them at all (not even a TIME_WAIT leftover of an earlier run, which a bind without
    ``SO_REUSEADDR`` trips over), and none that aioports never hands out automatically.

    Drawn below the kernel's ephemeral range, where no outgoing connection or bind(0) of
    another program lands by chance while a test holds the block, from a share of it no
    other pytest-xdist worker of this run draws from.
    """
    return _BLOCKS.take(size)


def upper_free_block(size: int) -> int:
    """``size`` consecutive ports with nothing on them, all at 40000 or above: above the
    ephemeral range where there is room (no connection's TIME_WAIT lands there), for a test
    that needs ports in the upper part of the port space."""
    lo = _ephemeral_range()[1] + 1
    if 65_536 - lo < 4 * size:  # an ephemeral range up to the top: make do below it
        lo = 40_000
    lo = max(lo, 40_000)
    for _ in range(200):
        start = random.randint(lo, 65_536 - size)
        if all(_untouched(p) for p in range(start, start + size)):
            return start
    raise RuntimeError(f"found no {size} consecutive free ports in {lo}-65535")


def bindable(port: int) -> bool:
    """Ground truth: can a server listen on the wildcard addresses, IPv4 and IPv6?"""
    return _listens(port, reuse=True)


def _untouched(port: int) -> bool:
    """No socket of any state on ``port``: even a listener without ``SO_REUSEADDR`` starts."""
    return _listens(port, reuse=False)


def _listens(port: int, *, reuse: bool) -> bool:
    socks = []
    try:
        for family, host in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
            sock = socket.socket(family, socket.SOCK_STREAM)
            socks.append(sock)
            if reuse:
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
