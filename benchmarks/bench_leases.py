"""Leases at scale and in test suites.

- The pytest fixtures' cost per port (lease + release through the sync door, what
  ``aioports_port`` does) against anyio's ``free_tcp_port`` factory and a plain ``bind(0)``.
- 1,000 concurrent tasks, each with its own ``PortManager().lease()``: how many time out,
  how many duplicates, and how long the whole burst takes.

Run: python benchmarks/bench_leases.py [--rounds N] [--tasks N]
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import tempfile
import time
from pathlib import Path

import anyio
from _common import Sample, environment, free_start, print_table
from anyio.pytest_plugin import FreePortFactory

from aioports import PortManager, RegistryLockTimeoutError
from aioports.pytest_plugin import PortFactory


def fixture_cost(rounds: int) -> None:
    path = Path(tempfile.mkdtemp()) / "registry.json"
    start = free_start(64)
    span = (start, start + 63)

    def aioports_fixture() -> None:
        with contextlib.ExitStack() as stack:
            PortFactory(stack, None, {"pytest": "bench"}).lease(span)

    def anyio_fixture() -> None:
        FreePortFactory(socket.SOCK_STREAM)()

    def bind0() -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))

    import os

    os.environ["AIOPORTS_REGISTRY"] = str(path)
    samples = []
    for name, op in (
        ("aioports_port (lease + release)", aioports_fixture),
        ("anyio free_tcp_port", anyio_fixture),
        ("socket bind(0)", bind0),
    ):
        for _ in range(5):
            op()
        times = []
        for _ in range(rounds):
            began = time.perf_counter()
            op()
            times.append(time.perf_counter() - began)
        samples.append(Sample(name, tuple(times)))
    print_table("pytest fixture, per port", [(samples[0], None), (samples[1], samples[0]),
                                             (samples[2], samples[0])])  # fmt: skip


async def burst(tasks: int) -> None:
    path = Path(tempfile.mkdtemp()) / "registry.json"
    start = free_start(tasks + 16)
    span = (start, start + tasks + 15)
    held: set[int] = set()
    leases = timeouts = duplicates = 0

    async def one() -> None:
        nonlocal leases, timeouts, duplicates
        try:
            async with PortManager(path).lease(span) as lease:
                # A duplicate is a port two leases hold at once; reuse after a release is fine.
                duplicates += lease.port in held
                held.add(lease.port)
                leases += 1
                await anyio.sleep(0)
                held.discard(lease.port)
        except RegistryLockTimeoutError:
            timeouts += 1

    began = time.perf_counter()
    async with anyio.create_task_group() as group:
        for _ in range(tasks):
            group.start_soon(one)
    elapsed = time.perf_counter() - began
    print(
        f"\n{tasks:,} tasks, each `async with PortManager().lease()` (lock_timeout 10 s): "
        f"{timeouts} timeouts, {duplicates} duplicates, {leases:,} leases, "
        f"{elapsed:.2f} s in all ({2 * tasks / elapsed:,.0f} transactions/s)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--tasks", type=int, default=1000)
    options = parser.parse_args()
    print(environment())
    fixture_cost(options.rounds)
    anyio.run(burst, options.tasks)
