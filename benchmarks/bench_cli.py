"""The command line's start-up: each quick command against a floor doing the same work in
plain Python, measured in the same run, the two interleaved round by round.

- ``aioports --version`` and ``--help`` against ``python -c pass`` (goal: 2x at most);
- ``aioports probe PORT --json`` against ``floor_probe.py`` (two wildcard binds);
- ``aioports allocate --json`` against ``floor_allocate.py`` (flock, read, probe, write,
  fsync, rename), each run on a fresh copy of a 200-entry registry;
- ``aioports dashboard --json`` with 200 entries against ``floor_dashboard.py``
  (goal for the last three: 1.5x at most).

Run: python benchmarks/bench_cli.py [--rounds N]
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from _common import (
    Sample,
    console_script,
    environment,
    free_start,
    interleaved,
    nothing,
    print_table,
)

from aioports._sync import SyncPortManager

ENTRIES = 200
HERE = Path(__file__).parent


def time_pair(
    names: tuple[str, str],
    argvs: tuple[list[str], list[str]],
    env: dict[str, str],
    rounds: int,
    prepare: Callable[[], None] = nothing,
) -> tuple[Sample, Sample]:
    """Time two commands, alternating (see ``interleaved``)."""
    first, second = interleaved(
        [(name, functools.partial(subprocess.run, argv, env=env, capture_output=True, check=True))
         for name, argv in zip(names, argvs, strict=True)],
        rounds, prepare=(prepare, prepare),
    )  # fmt: skip
    return first, second


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=30)
    rounds = parser.parse_args().rounds
    aioports = console_script()
    python = sys.executable
    print(environment())
    with tempfile.TemporaryDirectory() as folder:
        full = Path(folder) / "full.json"
        start = free_start(ENTRIES + 50)
        span = f"{start}-{start + ENTRIES + 49}"
        door = SyncPortManager(full, range=span)
        for index in range(ENTRIES):
            door.allocate(None, {"app": f"app{index % 7}", "service": f"s{index}"})
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env |= {"AIOPORTS_REGISTRY": str(full), "AIOPORTS_RANGE": span}
        port = str(free_start(1))
        bare, version = time_pair(
            ("python -c pass", "aioports --version"),
            ([python, "-c", "pass"], [aioports, "--version"]), env, rounds,
        )  # fmt: skip
        bare2, help_ = time_pair(
            ("python -c pass", "aioports --help"),
            ([python, "-c", "pass"], [aioports, "--help"]), env, rounds,
        )  # fmt: skip
        probe_floor, probe = time_pair(
            ("floor_probe.py", "aioports probe PORT --json"),
            ([python, str(HERE / "floor_probe.py"), port], [aioports, "probe", port, "--json"]),
            env, rounds,
        )  # fmt: skip
        dash_floor, dash = time_pair(
            (f"floor_dashboard.py, {ENTRIES} entries", f"aioports dashboard --json, {ENTRIES}"),
            ([python, str(HERE / "floor_dashboard.py")], [aioports, "dashboard", "--json"]),
            env, rounds,
        )  # fmt: skip
        scratch = Path(folder) / "scratch.json"
        alloc_env = env | {"AIOPORTS_REGISTRY": str(scratch)}
        alloc_floor, alloc = time_pair(
            (f"floor_allocate.py, {ENTRIES} entries", f"aioports allocate --json, {ENTRIES}"),
            ([python, str(HERE / "floor_allocate.py")], [aioports, "allocate", "--json"]),
            alloc_env, rounds, prepare=lambda: shutil.copyfile(full, scratch),
        )  # fmt: skip
    print_table(
        "Command line start-up (baseline: the same work in plain Python, same run)",
        [
            (bare, None),
            (version, bare),
            (bare2, None),
            (help_, bare2),
            (probe_floor, None),
            (probe, probe_floor),
            (alloc_floor, None),
            (alloc, alloc_floor),
            (dash_floor, None),
            (dash, dash_floor),
        ],
    )


if __name__ == "__main__":
    main()
