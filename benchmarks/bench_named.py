"""Named ports: what ``ensure`` of a recorded key costs, in-process and end to end.

- in-process, a recorded key in a registry of 200 entries, against the floor of one locked
  registry read in plain Python (flock, read, orjson.loads, find the key): the sync door and
  ``PortManager.ensure`` (the async door, on one event loop);
- the command line: ``aioports ensure web --json`` (a recorded key), against
  ``aioports allocate --json`` (a new one-shot port each run) and port-for's ``bind_port``
  for a name that is already bound, started as a process the way its ``port-for NAME``
  command runs (with a private config file: the command itself writes ``/etc``).

Run: python benchmarks/bench_named.py [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import functools
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import orjson
from _common import (
    Sample,
    console_script,
    environment,
    free_start,
    interleaved,
    nothing,
    print_table,
)

from aioports import PortManager
from aioports._sync import SyncPortManager

ENTRIES = 200

PORT_FOR = """
import sys
from port_for import PortStore
print(PortStore(sys.argv[1]).bind_port("shop-web"))
"""


def floor_read(registry: Path, worktree: str) -> int:
    """One locked read of the registry and the lookup of a key, in plain Python."""
    fd = os.open(f"{registry}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with open(registry, "rb") as file:
            document = orjson.loads(file.read())
    finally:
        os.close(fd)
    for entry in document["leases"].values():
        if (entry.get("app"), entry.get("worktree"), entry.get("service")) == (
            "shop",
            worktree,
            "web",
        ):
            port: int = entry["port"]
            return port
    raise LookupError("no such key")


def timed(name: str, call: Callable[[], object], rounds: int) -> Sample:
    [sample] = interleaved([(name, call)], rounds, warmup=20)
    return sample


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=30)
    rounds = parser.parse_args().rounds
    aioports = console_script()
    print(environment())
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        project = root / "shop"
        project.mkdir()
        (project / ".aioports.toml").write_text('app = "shop"\n[services]\nweb = {}\n')
        os.chdir(project)
        registry = root / "registry.json"
        start = free_start(ENTRIES + 50)
        span = f"{start}-{start + ENTRIES + 49}"
        door = SyncPortManager(registry, range=span)
        for index in range(ENTRIES - 1):
            door.allocate(None, {"app": f"app{index % 7}", "service": f"s{index}"})
        door.ensure("web")
        worktree = str(project)

        floor = timed(
            "floor: locked read + lookup", lambda: floor_read(registry, worktree), rounds * 20
        )
        sync = timed("SyncPortManager.ensure (recorded)", lambda: door.ensure("web"), rounds * 20)

        async def async_rounds() -> Sample:
            manager = PortManager(registry, range=span)
            for _ in range(20):
                await manager.ensure("web")
            times = []
            for _ in range(rounds * 20):
                began = time.perf_counter()
                await manager.ensure("web")
                times.append(time.perf_counter() - began)
            return Sample("PortManager.ensure (recorded)", tuple(times))

        async_ = asyncio.run(async_rounds())

        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env |= {"AIOPORTS_REGISTRY": str(registry), "AIOPORTS_RANGE": span}
        scratch = root / "scratch.json"
        conf = root / "port-for.conf"
        subprocess.run([sys.executable, "-c", PORT_FOR, str(conf)], check=True, capture_output=True)

        scratch_env = env | {"AIOPORTS_REGISTRY": str(scratch)}

        def command(argv: list[str], env: dict[str, str]) -> Callable[[], object]:
            return functools.partial(subprocess.run, argv, env=env, capture_output=True, check=True)

        commands = interleaved(
            [
                ("aioports ensure web --json (recorded)",
                 command([aioports, "ensure", "web", "--json"], env)),
                ("aioports allocate --json (new port)",
                 command([aioports, "allocate", "--json"], scratch_env)),
                ("port-for NAME (bound name)",
                 command([sys.executable, "-c", PORT_FOR, str(conf)], env)),
            ],
            rounds,
            prepare=(nothing, lambda: shutil.copyfile(registry, scratch), nothing),
        )  # fmt: skip
    print_table(
        f"ensure of a recorded key, {ENTRIES} entries (baseline: the plain-Python floor)",
        [(floor, None), (sync, floor), (async_, floor)],
    )
    ensure_cli, allocate_cli, port_for = commands
    print_table(
        "End to end, one process per call (baseline: aioports ensure)",
        [(ensure_cli, None), (allocate_cli, ensure_cli), (port_for, ensure_cli)],
    )


if __name__ == "__main__":
    main()
