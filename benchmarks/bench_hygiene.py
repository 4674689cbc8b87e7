"""What port hygiene adds to every allocation: ``excluded_ports()``, ``range_warnings()`` and
``port_warnings()``, against the floor (one ``open``/``read``/``close`` of the ``/proc`` file)
and one bind probe (what an allocation pays per port anyway).

Run: python benchmarks/bench_hygiene.py [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import timeit
from collections.abc import Callable

from _common import Sample, environment, print_table

from aioports import PortRange
from aioports._hygiene import (
    RESERVED_PORTS_PATH,
    excluded_ports,
    port_warnings,
    range_warnings,
)
from aioports._probe import BindProber

BATCH = 2_000


def sample(name: str, op: Callable[[], object], rounds: int) -> Sample:
    op()  # warm-up: the caches fill, the file is in the page cache
    times = timeit.repeat(op, number=BATCH, repeat=rounds)
    return Sample(name, tuple(t / BATCH for t in times))


def read_floor() -> bytes:
    fd = os.open(RESERVED_PORTS_PATH, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return os.read(fd, 4096)
    finally:
        os.close(fd)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=25)
    rounds = parser.parse_args().rounds
    print(environment())
    if not RESERVED_PORTS_PATH.exists():
        print(f"{RESERVED_PORTS_PATH} is missing here: nothing to read, nothing to measure")
        return
    floor = sample("floor: open + read + close of the /proc file", read_floor, rounds)
    prober = BindProber()
    probe = sample("one bind probe (port 3000)", lambda: prober.status(3000), rounds)
    span = PortRange(3000, 3999)
    print_table(
        "Port hygiene per call",
        [
            (floor, None),
            (probe, None),
            (sample("excluded_ports()", excluded_ports, rounds), floor),
            (sample("range_warnings(3000-3999)", lambda: range_warnings(span), rounds), floor),
            (sample("port_warnings(3659)", lambda: port_warnings(3659), rounds), floor),
        ],
    )


if __name__ == "__main__":
    main()
