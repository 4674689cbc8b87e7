"""Real processes fighting over one registry file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import orjson
from helpers import free_block
from processes import reap

from aioports import PortManager
from aioports._files import is_temp_name
from aioports._registry import decode

ALLOCATOR = textwrap.dedent(
    """
    import sys, anyio
    from aioports import PortManager, NoFreePortError
    path, start, end, want = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    async def main():
        pm = PortManager(path, lock_timeout=60)
        got = []
        while len(got) < want:
            try:
                got.append(await pm.allocate((start, end), {"worker": sys.argv[5]}))
            except NoFreePortError:
                break
        print(" ".join(map(str, got)))
    anyio.run(main)
    """
)


def _run_allocators(registry: Path, start: int, end: int, workers: int, want: int) -> list[int]:
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                ALLOCATOR,
                str(registry),
                str(start),
                str(end),
                str(want),
                str(n),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(workers)
    ]
    ports: list[int] = []
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
        ports += [int(p) for p in out.split()]
    return ports


async def test_ten_processes_never_share_a_port(registry_path: Path) -> None:
    start = free_block(250)
    ports = _run_allocators(registry_path, start, start + 249, workers=10, want=20)
    assert len(ports) == 200
    assert len(set(ports)) == 200, "a port was handed out twice"
    listed = await PortManager(registry_path).list_allocations()
    assert sorted(a.port for a in listed) == sorted(ports), "an allocation was lost"
    assert {a.metadata["worker"] for a in listed} == {str(n) for n in range(10)}


async def test_narrow_range_is_shared_out_exactly(registry_path: Path) -> None:
    start = free_block(30)
    ports = _run_allocators(registry_path, start, start + 29, workers=8, want=30)
    assert sorted(ports) == list(range(start, start + 30))
    assert len(await PortManager(registry_path).list_allocations()) == 30


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
            subprocess.Popen(
                [sys.executable, "-c", CHURN, str(registry_path), str(start), str(start + 39)],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
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
