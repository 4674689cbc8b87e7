"""aioports against plain loops and the peers, side by side in one run.

Sub-benchmarks: probe, scan, allocate, contention, registry (bench_registry.py). Each prints a
markdown table: operation, aioports min/median/max, the other side's min/median/max, and the
ratio of the medians (other / aioports: above 1 means aioports is faster). Peers come from the
``bench`` extra (``pip install -e '.[bench]'``); nothing is installed at run time.

Run: python benchmarks/run_all.py [--only scan,probe,...] [--rounds N]
"""

from __future__ import annotations

import argparse
import multiprocessing
import socket
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import anyio
import bench_registry
import ephemeral_port_reserve
import port_for
import portend
import portpicker
from _common import environment
from anyio.pytest_plugin import FreePortFactory
from pytest_asyncio.plugin import _unused_port

from aioports import PortManager

FULL = range(1024, 65536)
SAMPLE = 10_000  # ports per peer per-port check, extrapolated to the full range


def stats(times: list[float]) -> tuple[float, float, float]:
    return min(times), statistics.median(times), max(times)


def fmt(value: float, unit: str) -> str:
    scale = {"s": 1.0, "ms": 1e3, "us": 1e6}[unit]
    return f"{value * scale:,.{3 if unit == 's' else 1}f}"


def table(title: str, unit: str, rows: list[tuple[str, list[float], str, list[float]]]) -> None:
    print(f"\n### {title} ({unit}, min / median / max)\n")
    print("| operation | aioports | other side | other | ratio |")
    print("| --- | ---: | --- | ---: | ---: |")
    for name, ours, other_name, other in rows:
        o, t = stats(ours), stats(other)
        print(
            f"| {name} | {' / '.join(fmt(v, unit) for v in o)} | {other_name} | "
            f"{' / '.join(fmt(v, unit) for v in t)} | {t[1] / o[1]:.3g}x |"
        )


def repeat(op: Callable[[], object], rounds: int, warmup: int = 1) -> list[float]:
    for _ in range(warmup):
        op()
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        op()
        times.append(time.perf_counter() - began)
    return times


def interleaved(ops: list[Callable[[], object]], rounds: int) -> list[list[float]]:
    """Like :func:`repeat` for each of ``ops``, taking turns round by round."""
    for op in ops:
        op()
    times: list[list[float]] = [[] for _ in ops]
    for _ in range(rounds):
        for op, spent in zip(ops, times, strict=True):
            began = time.perf_counter()
            op()
            spent.append(time.perf_counter() - began)
    return times


def per_item(op: Callable[[int], object], ports: range, rounds: int) -> list[float]:
    """Seconds per port for ``op`` over ``ports``, one figure per round."""
    return [t / len(ports) for t in repeat(lambda: [op(p) for p in ports], rounds)]


# -- plain loops and peers' per-port checks ----------------------------------------------


def v4_busy(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return True
    return False


def dual_busy(port: int) -> bool:
    if v4_busy(port):
        return True
    with socket.socket(socket.AF_INET6) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        try:
            sock.bind(("::", port))
        except OSError:
            return True
    return False


def portend_busy(port: int) -> bool:
    try:
        portend.Checker(timeout=0.0).assert_free("127.0.0.1", port)
    except portend.PortNotFree:
        return True
    return False


PEER_CHECKS: list[tuple[str, Callable[[int], object], int]] = [
    ("portpicker.is_port_free", portpicker.is_port_free, SAMPLE),
    ("port_for.port_is_used", port_for.port_is_used, SAMPLE),
    ("portend Checker.assert_free", portend_busy, SAMPLE),
    # reserve() leaves every port it checks in TIME_WAIT for a minute: keep the sample small.
    ("ephemeral_port_reserve.reserve", lambda p: ephemeral_port_reserve.reserve(port=p), 1_000),
    ("port_for.is_available", port_for.is_available, 20),
]


def bench_scan(rounds: int) -> None:
    manager = PortManager(Path(tempfile.mkdtemp()) / "registry.json")

    def scan(concurrency: int | None) -> Callable[[], object]:
        return lambda: anyio.run(lambda: manager.scan((1024, 65535), concurrency=concurrency))

    # Rounds alternate between the four, so that load from elsewhere hits them alike.
    auto, inline, v4, dual = interleaved(
        [
            scan(None),
            scan(1),
            lambda: [v4_busy(p) for p in FULL],
            lambda: [dual_busy(p) for p in FULL],
        ],
        rounds,
    )
    rows = [
        ("scan 1024-65535, 1 process", inline, "sync loop, 0.0.0.0 bind only", v4),
        ("scan 1024-65535, 1 process", inline, "sync loop, dual-stack (0.0.0.0 + ::)", dual),
        ("scan 1024-65535, default (2 CPUs)", auto, "sync loop, dual-stack (0.0.0.0 + ::)", dual),
    ]
    for name, check, size in PEER_CHECKS:
        # reserve() leaves TIME_WAIT behind: give it ports the others do not use.
        start = 60_000 if size == 1_000 else 30_000
        per_port = per_item(check, range(start, start + size), max(1, min(rounds, 3)))
        full = [t * len(FULL) for t in per_port]
        rows.append(("scan 1024-65535, default", auto, f"{name} x 64,512 (from {size:,})", full))
    table("full-range scan, dual-stack answers", "s", rows)


def bench_probe(rounds: int) -> None:
    manager = PortManager(Path(tempfile.mkdtemp()) / "registry.json")
    ports = range(52_000, 52_000 + 2_000)

    async def probes() -> None:
        for port in ports:
            await manager.probe(port)

    ours = [t / len(ports) for t in repeat(lambda: anyio.run(probes), rounds)]
    rows = [
        (
            "await probe(port)",
            ours,
            "sync dual-stack bind (0.0.0.0 + ::)",
            per_item(dual_busy, ports, rounds),
        )
    ]
    for name, check, _size in PEER_CHECKS[:3]:
        rows.append(("await probe(port)", ours, name, per_item(check, ports, rounds)))
    table("one probe", "us", rows)


def bench_allocate(rounds: int) -> None:
    folder = Path(tempfile.mkdtemp())
    path = folder / "registry.json"

    async def fresh_allocate() -> None:
        manager = PortManager(path)
        began = time.perf_counter()
        port = await manager.allocate((20_000, 29_999))
        times.append(time.perf_counter() - began)
        await manager.release(port)

    times: list[float] = []
    for _ in range(rounds + 3):
        anyio.run(fresh_allocate)
    ours = times[3:]

    def bind0() -> int:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
            return port

    peers: list[tuple[str, Callable[[], object]]] = [
        ("portpicker.pick_unused_port()", portpicker.pick_unused_port),
        ("pytest-asyncio unused_tcp_port", lambda: _unused_port(socket.SOCK_STREAM)),
        ("anyio free_tcp_port (FreePortFactory)", lambda: FreePortFactory(socket.SOCK_STREAM)()),
        ("socket bind(0)", bind0),
    ]
    rows = [
        ("allocate() from a fresh manager, registry included", ours, name, repeat(op, rounds, 3))
        for name, op in peers
    ]
    table("allocate one port", "us", rows)


# -- 8 processes at once -------------------------------------------------------------------

PROCESSES = 8
PICKS = 150


def _contender(kind: str, path: str, start: int, size: int, go: object, out: object) -> None:
    narrow = set(range(start, start + size))
    go.wait()  # type: ignore[attr-defined]
    if kind == "aioports":

        async def run() -> list[int]:
            manager = PortManager(path)
            return [await manager.allocate((start, start + size - 1)) for _ in range(PICKS)]

        picked = anyio.run(run)
    elif kind == "port_for.select_random (narrow range)":
        picked = [port_for.select_random(ports=narrow) for _ in range(PICKS)]
    elif kind == "first is_port_free (narrow range)":
        picked = [
            next(p for p in sorted(narrow) if portpicker.is_port_free(p)) for _ in range(PICKS)
        ]
    else:
        picked = [portpicker.pick_unused_port() for _ in range(PICKS)]
    out.put(picked)  # type: ignore[attr-defined]


def bench_contention(rounds: int) -> None:
    start, size = 40_000, 1_600
    kinds = [
        "aioports",
        "portpicker.pick_unused_port()",
        "port_for.select_random (narrow range)",
        "first is_port_free (narrow range)",
    ]
    print(
        f"\n### {PROCESSES} processes x {PICKS} picks at once (ports {start}-{start + size - 1})\n"
    )
    print("| picker | picks/s (min / median / max) | duplicate picks (median) |")
    print("| --- | ---: | ---: |")
    ctx = multiprocessing.get_context("spawn")
    for kind in kinds:
        rates, dups = [], []
        for _ in range(max(1, min(rounds, 3))):
            path = str(Path(tempfile.mkdtemp()) / "registry.json")
            # Every child imports, then waits at the barrier with this process: the clock
            # starts when the last one is ready, so start-up never counts, however loaded.
            go, out = ctx.Barrier(PROCESSES + 1), ctx.Queue()
            procs = [
                ctx.Process(target=_contender, args=(kind, path, start, size, go, out))
                for _ in range(PROCESSES)
            ]
            for proc in procs:
                proc.start()
            go.wait()
            began = time.perf_counter()
            picked = [p for _ in procs for p in out.get(timeout=300)]
            elapsed = time.perf_counter() - began
            for proc in procs:
                proc.join()
            rates.append(len(picked) / elapsed)
            dups.append(sum(n - 1 for n in Counter(picked).values()))
        lo, mid, hi = stats(rates)
        print(f"| {kind} | {lo:,.0f} / {mid:,.0f} / {hi:,.0f} | {statistics.median(dups):,.0f} |")


def bench_script(name: str, *args: str) -> Callable[[int], None]:
    """A benchmark that is a script of its own, run as a child with its table printed."""

    def run(rounds: int) -> None:
        import subprocess
        import sys

        here = Path(__file__).parent
        subprocess.run([sys.executable, str(here / name), *args], check=True)

    return run


BENCHES: dict[str, Callable[[int], None]] = {
    "probe": bench_probe,
    "scan": bench_scan,
    "allocate": bench_allocate,
    "contention": bench_contention,
    "registry": lambda rounds: anyio.run(bench_registry.main, max(rounds * 20, 100)),
    "cycles": bench_script("bench_cycles.py", "--seconds", "2", "--rounds", "3"),
    "leases": bench_script("bench_leases.py"),
    "cli": bench_script("bench_cli.py"),
}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", default=",".join(BENCHES), help="comma-separated: " + ", ".join(BENCHES)
    )
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    print(environment())
    for name in options.only.split(","):
        BENCHES[name.strip()](options.rounds)
