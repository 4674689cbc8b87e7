"""What ``aioports run`` costs around a command: ``aioports run --once -- true`` and
``aioports run --once --fd -- true`` against running ``true`` directly, and ``aioports
--version`` (the interpreter's start-up) for scale; the runs interleaved round by round.

The wrapper's work: start-up, a lease with its socket bound (one registry update), the fork
and exec, handing the port to the child (one update), the "is up" watcher, the wait, and the
release (one update).

Run: python benchmarks/bench_run.py [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

from _common import console_script, environment, free_start, print_table
from bench_cli import time_pair


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=30)
    rounds = parser.parse_args().rounds
    aioports = console_script()
    true = shutil.which("true") or "/bin/true"
    print(environment())
    with tempfile.TemporaryDirectory() as folder:
        start = free_start(100)
        # Bytecode is written and reused, as on a user's machine (bench_cli.py does the same).
        env = {
            **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
            "AIOPORTS_REGISTRY": str(Path(folder) / "registry.json"),
            "AIOPORTS_CONFIG": str(Path(folder) / "config.toml"),
            "AIOPORTS_RANGE": f"{start}-{start + 99}",
        }
        rows = []
        for name, argv in (
            ("aioports run --once -- true", [aioports, "run", "--once", "--", true]),
            ("aioports run --once --fd -- true", [aioports, "run", "--once", "--fd", "--", true]),
            ("aioports --version", [aioports, "--version"]),
        ):
            base, sample = time_pair(("true", name), ([true], argv), env, rounds)
            rows += [(base, None), (sample, base)]
    print_table("aioports run around a command that exits at once", rows)


if __name__ == "__main__":
    main()
