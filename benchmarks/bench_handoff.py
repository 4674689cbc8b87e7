"""The contention experiment: how often does "pick a port, then start the server" fail?

N processes each make P picks from the same narrow range. After each pick the "server"
waits ``--delay`` (20 ms: imports, config, framework start-up), binds the port the way
servers do (SO_REUSEADDR, listen), holds it ``--hold``, and closes; a bind or listen that
fails with EADDRINUSE counts as a failure. Every method gets the same explicit range:

- aioports lease: ``async with pm.lease(span)`` around the server's life;
- aioports socket handoff: ``pm.lease(span, hold=True)``; the server listens on the socket;
- bind(0)+close, the pytest-asyncio / aiohttp / anyio fixture way: the kernel hands out a
  random free ephemeral port; emulated in the range as a random port that a plain
  bind+close accepts;
- portpicker (if installed): its fallback path, random ports checked with
  ``portpicker.is_port_free`` (TCP and UDP, IPv4 and IPv6), in the range.

Run: ``python benchmarks/bench_handoff.py`` (``--help`` for the knobs).
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import anyio.to_thread
from _common import environment

from aioports import PortManager

METHODS = ("aioports lease", "aioports socket handoff", "bind(0)+close", "portpicker")


def _serve(port: int, hold: float, sock: socket.socket | None = None) -> bool:
    """Start a "server" on ``port`` (or on the handed-over socket); False if it cannot."""
    try:
        if sock is None:
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
        with sock:
            sock.listen()
            time.sleep(hold)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        return False
    return True


def _plain_bind_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _random_pick(start: int, end: int, is_free: Callable[[int], bool]) -> int:
    while True:
        port = random.randint(start, end)
        if is_free(port):
            return port


async def _aioports_worker(args: argparse.Namespace, hold_socket: bool) -> tuple[int, list[float]]:
    pm = PortManager(args.registry)
    span = (args.start, args.start + args.ports - 1)
    failures = 0
    latencies = []
    for _ in range(args.picks):
        t0 = time.perf_counter()
        async with pm.lease(span, hold=hold_socket) as lease:
            latencies.append(time.perf_counter() - t0)
            await anyio.sleep(args.delay)
            # The server is a plain blocking one; it runs in a thread like any sync server.
            ok = await anyio.to_thread.run_sync(_serve, lease.port, args.hold, lease.socket)
            failures += not ok
    return failures, latencies


def _peer_worker(
    args: argparse.Namespace, is_free: Callable[[int], bool]
) -> tuple[int, list[float]]:
    end = args.start + args.ports - 1
    failures = 0
    latencies = []
    for _ in range(args.picks):
        t0 = time.perf_counter()
        port = _random_pick(args.start, end, is_free)
        latencies.append(time.perf_counter() - t0)
        time.sleep(args.delay)
        failures += not _serve(port, args.hold)
    return failures, latencies


def worker(args: argparse.Namespace) -> None:
    while time.time() < args.go:  # start all workers together, after their imports
        time.sleep(0.001)
    t0 = time.perf_counter()
    if args.worker == "aioports lease":
        failures, latencies = anyio.run(_aioports_worker, args, False)
    elif args.worker == "aioports socket handoff":
        failures, latencies = anyio.run(_aioports_worker, args, True)
    elif args.worker == "bind(0)+close":
        failures, latencies = _peer_worker(args, _plain_bind_is_free)
    else:
        import portpicker

        failures, latencies = _peer_worker(args, portpicker.is_port_free)
    elapsed = time.perf_counter() - t0
    print(json.dumps({"failures": failures, "latencies": latencies, "elapsed": elapsed}))


def run_method(method: str, args: argparse.Namespace, registry: Path) -> dict[str, float]:
    go = time.time() + 1.5
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--worker", method, "--go", str(go),
             "--registry", str(registry), "--start", str(args.start), "--ports", str(args.ports),
             "--picks", str(args.picks), "--delay", str(args.delay), "--hold", str(args.hold)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(args.procs)
    ]  # fmt: skip
    results = []
    for proc in procs:
        out, _ = proc.communicate(timeout=600)
        if proc.returncode != 0:
            raise SystemExit(f"{method} worker failed with exit code {proc.returncode}")
        results.append(json.loads(out))
    latencies = sorted(x for r in results for x in r["latencies"])
    picks = len(latencies)
    return {
        "failures": sum(r["failures"] for r in results),
        "picks": picks,
        "rate": picks / max(r["elapsed"] for r in results),
        "p50": statistics.median(latencies),
        "p95": latencies[min(picks - 1, round(0.95 * (picks - 1)))],
    }


def _free_range(size: int, first: int) -> int:
    """The first port from ``first`` up of ``size`` consecutive ports bindable now."""
    start = first
    while start + size <= 32768:
        busy = [p for p in range(start, start + size) if not _plain_bind_is_free(p)]
        if not busy:
            return start
        start = busy[-1] + 1
    raise SystemExit(f"no {size} consecutive free ports between {first} and 32767")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--procs", type=int, default=8)
    parser.add_argument("--picks", type=int, default=150, help="picks per process")
    parser.add_argument("--ports", type=int, default=200, help="size of the shared range")
    parser.add_argument("--start", type=int, default=0, help="first port (default: a free run)")
    parser.add_argument("--delay", type=float, default=0.02, help="pick-to-bind delay, s")
    parser.add_argument("--hold", type=float, default=0.01, help="how long the server lives, s")
    parser.add_argument("--runs", type=int, default=3, help="repetitions of each method")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--go", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--registry", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    methods = [m for m in args.methods.split(",") if m]
    try:
        import portpicker  # noqa: F401
    except ImportError:
        print("portpicker is not installed: skipping it (pip install portpicker)")
        methods = [m for m in methods if m != "portpicker"]
    if not args.start:
        args.start = _free_range(args.ports, 20000)
    print(environment())
    print(
        f"{args.procs} processes x {args.picks} picks, range {args.start}-"
        f"{args.start + args.ports - 1} ({args.ports} ports), server binds "
        f"{args.delay * 1e3:.0f} ms after the pick and lives {args.hold * 1e3:.0f} ms, "
        f"{args.runs} runs per method"
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        registry = Path(tmp) / "registry.json"
        # Warm-up: imports, the registry file, the page cache.
        run_method("aioports lease", argparse.Namespace(**{**vars(args), "picks": 5}), registry)
        for method in methods:
            runs = [run_method(method, args, registry) for _ in range(args.runs)]
            rows.append((method, runs))
            left = _leftover_ports(registry)
            if left:
                raise SystemExit(f"{method}: leases left behind in the registry: {left}")
    print(
        f"\n{'method':<26} {'bind failures per run':>22} {'failure %':>10} {'picks/s':>8} "
        f"{'pick p50 ms':>12} {'pick p95 ms':>12}"
    )
    for method, runs in rows:
        failures = "/".join(str(r["failures"]) for r in runs)
        total_picks = sum(r["picks"] for r in runs)
        percent = 100 * sum(r["failures"] for r in runs) / total_picks
        rate = statistics.median(r["rate"] for r in runs)
        p50 = statistics.median(r["p50"] for r in runs) * 1e3
        p95 = statistics.median(r["p95"] for r in runs) * 1e3
        print(
            f"{method:<26} {failures:>22} {percent:>9.2f}% {rate:>8.0f} {p50:>12.2f} {p95:>12.2f}"
        )


def _leftover_ports(registry: Path) -> list[int]:
    return [a.port for a in anyio.run(PortManager(registry).list_allocations)]


if __name__ == "__main__":
    os.environ.pop("AIOPORTS_RANGE", None)
    main()
