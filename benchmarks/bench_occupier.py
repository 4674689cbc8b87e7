"""Who holds a port, and how fast it is freed.

detect: ``PortManager.detect_occupier(port)`` with 0, 1,000 and 5,000 other loopback listeners
(held by a helper child), against ``psutil.net_connections()`` plus a filter on the port, and
the peers ``lsof -ti :PORT`` and ``ss -ltnp sport = :PORT`` (skipped when not installed).

kill: from the call to a bindable port, ``kill_occupier(port)`` (SIGTERM) and with
``force=True``, against the npm kill-port approach (``lsof -i tcp:PORT | grep LISTEN | awk
'{print $2}' | xargs kill -9``, then poll until the port binds) and the floor (``os.kill``
on a PID known in advance, then poll).

Run: python benchmarks/bench_occupier.py [--rounds N] [--listeners 0,1000,5000]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator

import anyio
import psutil
from _common import Sample, environment, print_table

from aioports import PortManager

LISTENER = """
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0))
s.listen()
print(s.getsockname()[1], flush=True)
time.sleep(600)
"""

# Holds N listening sockets on 127.0.0.1; raises its own soft fd limit to fit them.
CROWD = """
import resource, socket, sys, time
n = int(sys.argv[1])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if soft < n + 64:
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 64), hard))
held = []
for _ in range(n):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    held.append(s)
print(len(held), flush=True)
time.sleep(3600)
"""

KILL_PORT_NPM = "lsof -i tcp:{port} | grep LISTEN | awk '{{print $2}}' | xargs kill -9"


@contextlib.contextmanager
def child(code: str, *args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        yield proc, proc.stdout.readline().strip()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()


def bindable(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
        return True


def wait_bindable(port: int) -> None:
    while not bindable(port):
        time.sleep(0.0002)


def timed(name: str, rounds: int, call: Callable[[], object]) -> Sample:
    call()  # warm-up
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return Sample(name, tuple(times))


async def timed_async(name: str, rounds: int, call: Callable[[], Awaitable[object]]) -> Sample:
    """Like :func:`timed`, inside one event loop (as a caller of the library runs it)."""
    await call()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        await call()
        times.append(time.perf_counter() - start)
    return Sample(name, tuple(times))


def detect_samples(pm: PortManager, port: int, rounds: int, others: int) -> list[Sample]:
    async def aioports_detect() -> object:
        found = await pm.detect_occupier(port)
        assert found is not None
        assert found.pid is not None
        return found

    def psutil_scan() -> object:
        return [c for c in psutil.net_connections("tcp") if c.laddr and c.laddr.port == port]

    label = f"{others:,} other listeners"
    samples = [
        timed(f"psutil.net_connections()+filter, {label}", rounds, psutil_scan),
        anyio.run(timed_async, f"aioports detect_occupier, {label}", rounds, aioports_detect),
    ]
    if shutil.which("lsof"):
        command = ["lsof", "-ti", f":{port}"]
        samples.append(timed(f"lsof -ti :PORT, {label}", rounds, lambda: _run(command)))
    if shutil.which("ss"):
        command = ["ss", "-ltnp", f"sport = :{port}"]
        samples.append(timed(f"ss -ltnp sport = :PORT, {label}", rounds, lambda: _run(command)))
    return samples


def _run(command: list[str] | str) -> None:
    subprocess.run(command, capture_output=True, check=False, shell=isinstance(command, str))


def kill_samples(pm: PortManager, rounds: int) -> list[Sample]:
    async def measure(kill: Callable[[int, int], Awaitable[None]]) -> float:
        with child(LISTENER) as (proc, line):
            port = int(line)
            start = time.perf_counter()
            await kill(proc.pid, port)
            elapsed = time.perf_counter() - start
            assert bindable(port)
            return elapsed

    async def floor(pid: int, port: int) -> None:
        os.kill(pid, signal.SIGTERM)
        wait_bindable(port)

    def aioports_kill(force: bool) -> Callable[[int, int], Awaitable[None]]:
        async def kill(pid: int, port: int) -> None:
            result = await pm.kill_occupier(port, force=force)
            assert result.killed, result
            assert result.pid == pid, result

        return kill

    async def kill_port_npm(pid: int, port: int) -> None:
        _run(KILL_PORT_NPM.format(port=port))
        wait_bindable(port)

    async def run(kill: Callable[[int, int], Awaitable[None]]) -> tuple[float, ...]:
        await measure(kill)  # warm-up
        return tuple([await measure(kill) for _ in range(rounds)])

    variants = [
        ("floor: os.kill(known pid, SIGTERM) + poll bind", floor),
        ("aioports kill_occupier (SIGTERM)", aioports_kill(False)),
        ("aioports kill_occupier(force=True) (SIGKILL)", aioports_kill(True)),
    ]
    if shutil.which("lsof"):
        variants.append(("npm kill-port way: lsof|grep|awk|kill -9 + poll", kill_port_npm))
    return [Sample(name, anyio.run(run, kill)) for name, kill in variants]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--listeners", default="0,1000,5000")
    args = parser.parse_args()
    print(environment())
    pm = PortManager()  # detect and kill never touch the registry
    with child(LISTENER) as (_, line):
        port = int(line)
        for others in (int(n) for n in args.listeners.split(",")):
            with child(CROWD, str(others)) as (_, held):
                assert int(held) == others, f"the helper holds only {held} listeners"
                samples = detect_samples(pm, port, args.rounds, others)
            print_table(
                f"detect the holder of one port, {others:,} other listeners",
                [(s, samples[0]) for s in samples],
            )
    samples = kill_samples(pm, max(5, args.rounds // 2))
    print_table(
        "kill: from the call to a bindable port (polite listener, no other listeners)",
        [(s, samples[0]) for s in samples],
    )


if __name__ == "__main__":
    main()
