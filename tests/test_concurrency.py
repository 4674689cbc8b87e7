"""Real processes fighting over one registry file (forked from a zygote that has imported
aioports: tests/forked.py)."""

from __future__ import annotations

import os
import signal
import textwrap
import time
from pathlib import Path

import forked
import orjson
from forked import DEVNULL
from helpers import free_block
from processes import reap

from aioports import PortManager
from aioports._files import is_temp_name
from aioports._registry import decode

# Allocates in each range given (START END WANT) in turn, until it has WANT ports or the
# range is full, and prints one line of ports per range; through the async door or the sync
# one (which imports no event loop).
ALLOCATOR = textwrap.dedent(
    """
    import sys
    from aioports import NoFreePortError
    path, door, worker, *spans = sys.argv[1:]
    ranges = list(zip(*[map(int, spans)] * 3))
    metadata = {"worker": worker}
    if door == "sync":
        from aioports._sync import SyncPortManager
        pm = SyncPortManager(path, lock_timeout=60)
        for start, end, want in ranges:
            got = []
            while len(got) < want:
                try:
                    got.append(pm.allocate((start, end), metadata))
                except NoFreePortError:
                    break
            print(" ".join(map(str, got)))
    else:
        import anyio
        from aioports import PortManager
        async def main():
            pm = PortManager(path, lock_timeout=60)
            for start, end, want in ranges:
                got = []
                while len(got) < want:
                    try:
                        got.append(await pm.allocate((start, end), metadata))
                    except NoFreePortError:
                        break
                print(" ".join(map(str, got)))
        anyio.run(main)
    """
)


DOORS = ("async", "sync")


def _run_allocators(
    registry: Path, workers: int, spans: list[tuple[int, int, int]]
) -> list[list[int]]:
    """Start ``workers`` allocator processes at once, half of them on each door; the ports
    they got, per span."""
    args = [str(n) for span in spans for n in span]
    procs = [
        forked.start(ALLOCATOR, str(registry), DOORS[n % 2], str(n), *args) for n in range(workers)
    ]
    ports: list[list[int]] = [[] for _ in spans]
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=240)
            assert proc.returncode == 0, err
            lines = out.split("\n")
            for got, line in zip(ports, lines, strict=False):
                got += [int(p) for p in line.split()]
    finally:
        for proc in procs:
            reap(proc)
    return ports


async def test_ten_processes_never_share_a_port_and_share_a_narrow_range_exactly(
    registry_path: Path,
) -> None:
    # Ten processes at once, five on each door: 20 ports each from a wide range, then as many
    # as they can get of a narrow one (30 ports, far fewer than the 300 they ask for).
    wide, narrow = free_block(250), free_block(30)
    spread, shared = _run_allocators(
        registry_path, 10, [(wide, wide + 249, 20), (narrow, narrow + 29, 30)]
    )
    assert len(spread) == 200
    assert len(set(spread)) == 200, "a port was handed out twice"
    assert sorted(shared) == list(range(narrow, narrow + 30)), (
        "the narrow range was not shared out exactly"
    )
    listed = await PortManager(registry_path).list_allocations()
    assert sorted(a.port for a in listed) == sorted(spread + shared), "an allocation was lost"
    in_wide = [a for a in listed if wide <= a.port <= wide + 249]
    assert {a.metadata["worker"] for a in in_wide} == {str(n) for n in range(10)}
    assert len([a for a in listed if narrow <= a.port <= narrow + 29]) == 30


CHURN = textwrap.dedent(
    """
    import sys, anyio
    from aioports import PortManager
    path, start, end = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    async def main():
        pm = PortManager(path, lock_timeout=60)
        print("ready", flush=True)
        while True:
            port = await pm.allocate((start, end), {"pad": "x" * 200})
            await pm.release(port)
    anyio.run(main)
    """
)


def _writers_caught_mid_write(folder: Path, prefix: str, pids: set[int]) -> set[int]:
    """The PIDs among ``pids`` whose temp file is in ``folder`` now: a writer creates it
    (holding the lock) and renames it over the registry, so while it exists that writer is
    mid-write."""
    found = (is_temp_name(name, prefix) for name in os.listdir(folder))
    return {hit[0] for hit in found if hit is not None and hit[0] in pids}


async def test_sigkill_mid_write_never_tears_the_registry(registry_path: Path) -> None:
    start = free_block(40)
    # A registry of 300 entries makes each write long enough (a ~100 kB temp file written
    # with O_DSYNC) to be killed inside.
    seed = PortManager(registry_path)
    base = free_block(400)
    seeded = await seed.allocate_group(
        300, range=(base, base + 399), metadata={"pad": "y" * 200}
    )  # fmt: skip
    folder, prefix = registry_path.parent, f".{registry_path.name}."
    # Each round starts three writers, waits until one of them is seen mid-write, and kills
    # all three. A round counts only when the kill provably landed mid-write: the victim's
    # temp file is still there once every writer is dead (nobody else renames or sweeps it).
    proven, rounds = 0, 0
    while proven < 3:
        rounds += 1
        assert rounds <= 15, f"only {proven} of {rounds - 1} rounds killed a writer mid-write"
        procs = [
            forked.start(CHURN, str(registry_path), str(start), str(start + 39), stderr=DEVNULL)
            for _ in range(3)
        ]
        try:
            for proc in procs:
                assert proc.stdout is not None
                assert proc.stdout.readline().strip() == "ready"
            pids = {proc.pid for proc in procs}
            deadline = time.monotonic() + 30
            while not _writers_caught_mid_write(folder, prefix, pids):
                assert time.monotonic() < deadline, "no writer was ever seen mid-write"
                time.sleep(0.0005)
            for proc in procs:
                proc.send_signal(signal.SIGKILL)
        finally:
            for proc in procs:
                reap(proc)
        if _writers_caught_mid_write(folder, prefix, pids):
            proven += 1
        leases = decode(registry_path.read_bytes(), registry_path)
        kept = [a for a in leases.allocations() if a.group == seeded.group_id]
        assert len(kept) == 300, "the seeded entries were lost"
    # The next write sweeps the temp files of the killed writers (the last round left one).
    assert _writers_caught_mid_write(folder, prefix, pids)
    await seed.allocate((start, start + 39))
    leftovers = [p for p in registry_path.parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []
    document = orjson.loads(registry_path.read_bytes())
    assert document["version"] == 2
