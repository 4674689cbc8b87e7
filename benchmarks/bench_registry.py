"""Registry round trips: aioports allocate+release with 1,000 entries in the registry,
against the floor of one locked, fsynced read-modify-write done inline, and aiofiles I/O
against a single worker-thread job for the same transaction.

Run: python benchmarks/bench_registry.py [--rounds N]
"""

from __future__ import annotations

import argparse
import fcntl
import os
import socket
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import anyio
import anyio.to_thread
import orjson
from _common import Sample, environment, free_start, print_table, write_fsynced

from aioports import Allocation, PortManager
from aioports._entries import Entries, decode
from aioports._registry import Registry

ENTRIES = 1_000


def seed_registry(path: Path, avoid: range) -> None:
    now = datetime.now(UTC)
    leases = Entries()
    port = 1024
    while len(leases) < ENTRIES:
        if port not in avoid:
            leases.add(Allocation(
                port=port, allocated_at=now, metadata={"app": "bench", "n": port},
                pid=os.getpid(), hostname=socket.gethostname(),
            ))  # fmt: skip
        port += 1
    path.write_bytes(leases.encode())


def raw_locked_rmw(path: Path, port: int) -> None:
    """The floor: flock, read, parse, change one entry, write temp, fsync, rename, fsync dir."""
    lock_fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        document = orjson.loads(path.read_bytes())
        leases = document["leases"]
        if str(port) in leases:
            del leases[str(port)]
        else:
            leases[str(port)] = {"port": port, "allocated_at": datetime.now(UTC).isoformat()}
        write_fsynced(path, orjson.dumps(document, option=orjson.OPT_INDENT_2), "raw")
    finally:
        fcntl.flock(lock_fd, fcntl.LOCK_UN)
        os.close(lock_fd)


def thread_job_rmw(path: Path, port: int) -> None:
    """The same transaction as aioports', decoded and validated, done in one blocking job."""
    lock_fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        leases = decode(path.read_bytes(), path)
        if leases.pop(port) is None:
            leases.add(Allocation(port=port, allocated_at=datetime.now(UTC)))
        write_fsynced(path, leases.encode(), "job")
    finally:
        fcntl.flock(lock_fd, fcntl.LOCK_UN)
        os.close(lock_fd)


async def timed(name: str, rounds: int, op: Callable[[], Awaitable[object]]) -> Sample:
    for _ in range(max(3, rounds // 10)):
        await op()
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        await op()
        times.append(time.perf_counter() - began)
    return Sample(name, tuple(times))


async def main(rounds: int) -> None:
    print(environment())
    print(f"registry with {ENTRIES} entries, {rounds} rounds each after a warm-up")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "registry.json"
        start = free_start(8)
        span = (start, start + 7)
        seed_registry(path, range(start, start + 8))
        manager = PortManager(path)

        async def round_trip() -> None:
            await manager.release(await manager.allocate(span))

        async def raw_floor() -> None:
            raw_locked_rmw(path, start)

        registry = Registry(path, lock_timeout=10, poll_interval=0.05)

        async def via_aiofiles() -> None:
            async with registry.transaction() as leases:
                if leases.pop(start) is None:
                    leases.add(Allocation(port=start, allocated_at=datetime.now(UTC)))

        async def via_aiofiles_cold() -> None:
            # A fresh Registry has no cached parse, as when another process wrote last.
            async with Registry(path, lock_timeout=10, poll_interval=0.05).transaction() as leases:
                if leases.pop(start) is None:
                    leases.add(Allocation(port=start, allocated_at=datetime.now(UTC)))

        async def via_thread_job() -> None:
            await anyio.to_thread.run_sync(thread_job_rmw, path, start)

        floor = await timed("raw floor: 1 locked fsynced RMW, inline", rounds, raw_floor)
        trip = await timed("aioports allocate + release (2 RMWs)", rounds, round_trip)
        aio = await timed("1 transaction, aiofiles I/O (aioports)", rounds, via_aiofiles)
        cold = await timed("1 transaction, aiofiles I/O, cold parse", rounds, via_aiofiles_cold)
        job = await timed("1 transaction, one worker-thread job, cold", rounds, via_thread_job)
        two_floors = Sample("raw floor x 2", tuple(2 * t for t in floor.times))
        print_table(
            "registry read-modify-write",
            [
                (floor, None),
                (two_floors, None),
                (trip, two_floors),
                (aio, floor),
                (cold, floor),
                (job, floor),
            ],
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    anyio.run(main, parser.parse_args().rounds)
