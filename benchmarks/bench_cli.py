"""The command line: process start-up, and the dashboard of 200 entries with live state.

Compares, in the same run:
- ``aioports --version`` (start-up floor: the interpreter plus the imports) against a bare
  ``python -c pass``;
- ``aioports --list --json`` and ``aioports --dashboard --json`` with 200 allocations;
- in-process, the dashboard's live-state lookup of 200 entries against plain probes one after
  another (its floor while no holder lookup is available).

Run: python benchmarks/bench_cli.py [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
from _common import Sample, environment, free_start, print_table

from aioports import PortManager
from aioports.cli._dashboard import build_rows

ENTRIES = 200


def time_command(name: str, argv: list[str], env: dict[str, str], rounds: int) -> Sample:
    for _ in range(2):  # warm-up: page cache, bytecode
        subprocess.run(argv, env=env, capture_output=True, check=True)
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        subprocess.run(argv, env=env, capture_output=True, check=True)
        times.append(time.perf_counter() - began)
    return Sample(name, tuple(times))


async def time_in_process(pm: PortManager, rounds: int) -> tuple[Sample, Sample]:
    allocations = await pm.list_allocations()
    concurrent, serial = [], []
    for round_ in range(rounds + 2):
        began = time.perf_counter()
        await build_rows(pm, allocations)
        middle = time.perf_counter()
        for allocation in allocations:
            await pm.probe(allocation.port)
        ended = time.perf_counter()
        if round_ >= 2:
            concurrent.append(middle - began)
            serial.append(ended - middle)
    return (
        Sample(f"dashboard rows, {ENTRIES} entries, in-process", tuple(concurrent)),
        Sample(f"{ENTRIES} probes one after another", tuple(serial)),
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    rounds = parser.parse_args().rounds
    executable = shutil.which("aioports", path=str(Path(sys.executable).parent)) or "aioports"
    print(environment())
    with tempfile.TemporaryDirectory() as folder:
        registry = Path(folder) / "registry.json"
        start = free_start(ENTRIES + 50)
        env = {**os.environ, "AIOPORTS_REGISTRY": str(registry)}
        env["AIOPORTS_RANGE"] = f"{start}-{start + ENTRIES + 49}"
        pm = PortManager(registry, range=env["AIOPORTS_RANGE"])

        async def fill() -> None:
            for index in range(ENTRIES):
                await pm.allocate(None, {"app": f"app{index % 7}", "service": f"s{index}"})

        anyio.run(fill)
        python = time_command("python -c pass", [sys.executable, "-c", "pass"], env, rounds)
        version = time_command("aioports --version", [executable, "--version"], env, rounds)
        listing = time_command(
            f"aioports --list --json, {ENTRIES} entries", [executable, "--list", "--json"],
            env, rounds,
        )  # fmt: skip
        dashboard = time_command(
            f"aioports --dashboard --json, {ENTRIES} entries",
            [executable, "--dashboard", "--json"], env, rounds,
        )  # fmt: skip
        concurrent, serial = anyio.run(time_in_process, pm, rounds)
    print_table(
        "Command line (baseline: bare interpreter start-up / the --version floor / serial probes)",
        [
            (python, None),
            (version, python),
            (listing, version),
            (dashboard, version),
            (serial, None),
            (concurrent, serial),
        ],
    )


if __name__ == "__main__":
    main()
