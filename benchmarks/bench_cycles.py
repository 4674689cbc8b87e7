"""Allocate + release cycles per second, with 1, 8 and 16 processes at once, on an empty
registry and on one of 1,000 entries: aioports' async door (``PortManager``) and sync door
(``SyncPortManager``, what the CLI, ``allocate_sync`` and the fixtures use) against the floor
(``floor_registry.py``: the same work in plain Python), all in one run.

Every child imports, then waits on a barrier; the clock starts when the last one is ready,
so start-up never counts. Each child cycles until the deadline and records each cycle.

Run: python benchmarks/bench_cycles.py [--seconds S] [--processes 1,8,16]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import socket
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _common import environment, free_start

KINDS = ("floor", "aioports async", "aioports sync")
ENTRIES = 1_000


def _seed(path: Path, entries: int, avoid: range) -> None:
    from aioports import Allocation
    from aioports._entries import Entries

    table = Entries()
    now = datetime.now(UTC)
    port = 1024
    while len(table) < entries:
        if port not in avoid:
            table.add(
                Allocation(
                    port=port,
                    allocated_at=now,
                    metadata={"app": "bench", "n": port},
                    pid=os.getpid(),
                    hostname=socket.gethostname(),
                )
            )
        port += 1
    path.write_bytes(table.encode())


def _child(kind: str, path: str, start: int, end: int, seconds: float, gate: Any, out: Any) -> None:
    registry = Path(path)
    if kind == "floor":
        import floor_registry

        def run() -> list[float]:
            return _loop(lambda: floor_registry.cycle(registry, start, end))

    elif kind == "aioports sync":
        from aioports._sync import SyncPortManager

        sync = SyncPortManager(registry)

        def run() -> list[float]:
            return _loop(lambda: sync.release(sync.allocate((start, end))))

    else:
        import anyio

        from aioports import PortManager

        def run() -> list[float]:
            async def main() -> list[float]:
                manager = PortManager(registry)
                times = []
                deadline = time.perf_counter() + seconds
                while (began := time.perf_counter()) < deadline:
                    await manager.release(await manager.allocate((start, end)))
                    times.append(time.perf_counter() - began)
                return times

            return anyio.run(main)

    def _loop(op: Any) -> list[float]:
        times = []
        deadline = time.perf_counter() + seconds
        while (began := time.perf_counter()) < deadline:
            op()
            times.append(time.perf_counter() - began)
        return times

    gate.wait()
    out.put(run())


def measure(kind: str, processes: int, entries: int, seconds: float) -> tuple[float, float]:
    """(cycles per second, p95 of one cycle in ms)."""
    ctx = multiprocessing.get_context("spawn")
    folder = tempfile.mkdtemp()
    path = Path(folder) / "registry.json"
    start = free_start(processes + 8)
    end = start + processes + 7
    if entries:
        _seed(path, entries, range(start, end + 1))
    gate, out = ctx.Barrier(processes), ctx.Queue()
    args = (kind, str(path), start, end, seconds, gate, out)
    procs = [ctx.Process(target=_child, args=args) for _ in range(processes)]
    for proc in procs:
        proc.start()
    times = [t for _ in procs for t in out.get(timeout=600)]
    for proc in procs:
        proc.join()
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return len(times) / seconds, p95 * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--processes", default="1,8,16")
    parser.add_argument("--rounds", type=int, default=1, help="runs per cell; the median counts")
    options = parser.parse_args()
    print(environment())
    print(f"\n### allocate + release cycles ({options.seconds:g} s per cell)\n")
    print("| processes | registry | floor cycles/s | async cycles/s | sync cycles/s | "
          "async / floor | sync / floor | p95 ms floor / async / sync |")  # fmt: skip
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for processes in (int(n) for n in options.processes.split(",")):
        for entries in (0, ENTRIES):
            cells = {}
            for kind in KINDS:
                runs = [
                    measure(kind, processes, entries, options.seconds)
                    for _ in range(options.rounds)
                ]
                cells[kind] = (
                    statistics.median(r[0] for r in runs),
                    statistics.median(r[1] for r in runs),
                )
            floor, aio, sync = (cells[k] for k in KINDS)
            label = "empty" if not entries else f"{entries:,} entries"
            print(
                f"| {processes} | {label} | {floor[0]:,.0f} | {aio[0]:,.0f} | {sync[0]:,.0f} | "
                f"{aio[0] / floor[0]:.2f}x | {sync[0] / floor[0]:.2f}x | "
                f"{floor[1]:.1f} / {aio[1]:.1f} / {sync[1]:.1f} |"
            )


if __name__ == "__main__":
    main()
