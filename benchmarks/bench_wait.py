"""Waiting for a server: what a look at the port costs, how soon each waiter notices a
server's ``listen()``, and what waiting costs in CPU.

1. One look: the ``sock_diag`` query of listening sockets that ``wait`` polls on Linux, against
   reading ``/proc/net/tcp{,6}`` and ``psutil.net_connections()`` (both walk every connection
   of the host) and a connect() to the port.
2. Latency from a server's ``listen()`` (in a child process, at a random moment) to the waiter
   returning: ``aioports.wait_until_listening_sync`` at the default 0.1 s interval and at
   0.01 s, ``portend.occupied`` (a connect every 0.1 s) and a plain connect loop at 0.1 s. The
   same with a server on ``::1`` only, which a connect to 127.0.0.1 never sees.
3. CPU: the process CPU time spent per second of waiting on a port nobody listens on.

Run: python benchmarks/bench_wait.py [--rounds N]
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Callable

import portend
import psutil
from _common import Sample, environment, free_start, print_table

import aioports
from aioports._listeners import listening_ports
from aioports._sockets import netlink_listeners

# Listens on argv[1]:argv[2] argv[3] seconds after it starts; prints time.monotonic() of the
# listen(), then waits for its stdin to close.
SERVER = """
import socket, sys, time
host, port, delay = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
time.sleep(delay)
family = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.socket(family)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
if family == socket.AF_INET6:
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
s.bind((host, port))
s.listen()
print(time.monotonic(), flush=True)
sys.stdin.read()
"""


def look_costs(rounds: int) -> None:
    port = free_start(1)

    def connect() -> None:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            pass

    looks: list[tuple[str, Callable[[], object]]] = [
        ("sock_diag, listening sockets only (wait)", lambda: netlink_listeners(port)),
        ("/proc/net/tcp + tcp6", listening_ports),
        ("psutil.net_connections('tcp')", lambda: psutil.net_connections("tcp")),
        ("connect() to 127.0.0.1 (refused)", connect),
    ]
    rows: list[tuple[Sample, Sample | None]] = []
    for name, look in looks:
        for _ in range(3):
            look()
        times = []
        for _ in range(rounds):
            began = time.perf_counter()
            look()
            times.append(time.perf_counter() - began)
        rows.append((Sample(name, tuple(times)), None))
    print_table("One look at a port", rows)


def connect_loop(host: str, port: int, timeout: float, interval: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), 1).close()
            return
        except OSError:
            time.sleep(interval)
    raise TimeoutError


WAITERS: dict[str, Callable[[int], object]] = {
    "aioports wait, interval 0.1 s": lambda port: aioports.wait_until_listening_sync(
        port, timeout=5
    ),
    "aioports wait, interval 0.01 s": lambda port: aioports.wait_until_listening_sync(
        port, timeout=5, interval=0.01
    ),
    "portend.occupied (connect, 0.1 s)": lambda port: portend.occupied("127.0.0.1", port, 5),
    "connect loop to 127.0.0.1, 0.1 s": lambda port: connect_loop("127.0.0.1", port, 5, 0.1),
}


def latency_once(waiter: Callable[[int], object], host: str, delay: float) -> float | None:
    """Seconds from the server's listen() to the waiter's return; None when it never saw it."""
    port = free_start(1)
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, host, str(port), str(delay)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        try:
            waiter(port)
        except (TimeoutError, portend.Timeout):
            return None
        returned = time.monotonic()
        assert server.stdout is not None
        return returned - float(server.stdout.readline())
    finally:
        server.kill()
        server.wait()


def latencies(rounds: int) -> None:
    for host in ("127.0.0.1", "::1"):
        rows: list[tuple[Sample, Sample | None]] = []
        for name, waiter in WAITERS.items():
            seen = []
            missed = 0
            for i in range(rounds):
                if host == "::1" and "aioports" not in name and i >= 1:
                    break  # one 5 s timeout is proof enough
                result = latency_once(waiter, host, 0.2 + 0.1 * (i % 10) / 10)
                if result is None:
                    missed += 1
                else:
                    seen.append(result)
            if seen:
                rows.append((Sample(name, tuple(seen)), None))
            else:
                print(f"{name}: never saw the server on {host} ({missed} of {missed} timed out)")
        print_table(f"listen() on {host} -> the waiter returns", rows)


def cpu_cost(seconds: float) -> None:
    port = free_start(1)
    print(f"\nCPU spent waiting {seconds:g} s on a port nobody listens on")
    for interval in (0.1, 0.01):
        before = resource.getrusage(resource.RUSAGE_SELF)
        began = time.monotonic()
        with contextlib.suppress(aioports.WaitTimeoutError):
            aioports.wait_until_listening_sync(port, timeout=seconds, interval=interval)
        wall = time.monotonic() - began
        after = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        print(f"interval {interval:<5g} s: {100 * cpu / wall:5.2f} % of one CPU")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    print(environment())
    look_costs(max(args.rounds * 10, 50))
    latencies(args.rounds)
    cpu_cost(3.0)


if __name__ == "__main__":
    main()
