"""``why`` against what it replaces: ``probe`` plus ``detect`` of the same held port, measured
in the same run, the sides interleaved round by round.

- in-process: ``SyncPortManager.explain(port)`` against ``probe(port)`` + ``detect_occupiers(port)``
  on the same door (the extra cost of the registry read, the owner check and the hygiene
  facts);
- command line: ``aioports why PORT --json`` (one process) against ``aioports probe PORT
  --json`` then ``aioports detect PORT --json`` (two processes), as a script would ask.

The registry holds 200 entries, and a listener child holds the first of them on 127.0.0.1.

Run: python benchmarks/bench_why.py [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from _common import Sample, console_script, environment, free_start, interleaved, print_table

from aioports._sync import SyncPortManager

ENTRIES = 200
LISTENER = (
    "import socket, sys, time\n"
    "s = socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen()\n"
    "print('ready', flush=True); time.sleep(3600)\n"
)


def time_pair(
    names: tuple[str, str], calls: tuple[Callable[[], object], Callable[[], object]], rounds: int
) -> tuple[Sample, Sample]:
    """Time two calls, alternating (see ``interleaved``)."""
    first, second = interleaved(list(zip(names, calls, strict=True)), rounds)
    return first, second


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=30)
    rounds = parser.parse_args().rounds
    aioports = console_script()
    print(environment())
    with tempfile.TemporaryDirectory() as folder:
        registry = Path(folder) / "registry.json"
        start = free_start(ENTRIES + 50)
        span = f"{start}-{start + ENTRIES + 49}"
        door = SyncPortManager(registry, range=span)
        for index in range(ENTRIES):
            door.allocate(None, {"app": f"app{index % 7}", "service": f"s{index}"})
        port = start  # allocated: now a server takes it
        child = subprocess.Popen(
            [sys.executable, "-c", LISTENER, str(port)], stdout=subprocess.PIPE, text=True
        )
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready"
            both, explain = time_pair(
                ("probe + detect_occupiers (in-process)", "explain (in-process)"),
                (lambda: (door.probe(port), door.detect_occupiers(port)),
                 lambda: door.explain(port)),
                rounds * 10,
            )  # fmt: skip
            env = os.environ | {"AIOPORTS_REGISTRY": str(registry), "AIOPORTS_RANGE": span}

            def run(*args: str) -> None:
                subprocess.run([aioports, *args, str(port), "--json"], env=env,
                               capture_output=True, check=False)  # fmt: skip

            two, one = time_pair(
                ("aioports probe + aioports detect", "aioports why"),
                (lambda: (run("probe"), run("detect")), lambda: run("why")),
                rounds,
            )  # fmt: skip
        finally:
            child.kill()
            child.wait()
    print_table(
        "why against probe + detect of a held, allocated port (baseline: probe + detect)",
        [(both, None), (explain, both), (two, None), (one, two)],
    )


if __name__ == "__main__":
    main()
