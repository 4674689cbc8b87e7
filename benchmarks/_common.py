"""Shared bits of the benchmark scripts: the environment line and the summary statistics."""

from __future__ import annotations

import os
import platform
import socket
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import aioports


@dataclass(frozen=True, slots=True)
class Sample:
    """Timings of one operation, in seconds."""

    name: str
    times: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def p95(self) -> float:
        ordered = sorted(self.times)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]

    def row(self, baseline: Sample | None = None) -> str:
        ratio = f"{self.median / baseline.median:7.2f}x" if baseline else "      -"
        return (
            f"{self.name:<46} {self.median * 1e6:10.0f} {self.p95 * 1e6:10.0f} "
            f"{min(self.times) * 1e6:10.0f} {ratio}"
        )


def nothing() -> None:
    """A ``prepare`` that does nothing."""


def interleaved(
    calls: Sequence[tuple[str, Callable[[], object]]],
    rounds: int,
    *,
    prepare: Sequence[Callable[[], object]] = (),
    warmup: int = 2,
) -> list[Sample]:
    """Time each call once per round, round after round, so that the machine's changing load
    falls on all of them alike; the first ``warmup`` rounds (page cache, bytecode) are not
    counted. ``prepare[i]``, if given, runs untimed before call ``i``."""
    times: list[list[float]] = [[] for _ in calls]
    for round_ in range(rounds + warmup):
        for index, (_, call) in enumerate(calls):
            if index < len(prepare):
                prepare[index]()
            began = time.perf_counter()
            call()
            if round_ >= warmup:
                times[index].append(time.perf_counter() - began)
    return [Sample(name, tuple(t)) for (name, _), t in zip(calls, times, strict=True)]


def environment() -> str:
    return (
        f"aioports {aioports.__version__}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}, {os.cpu_count()} CPUs, {sys.platform}"
    )


def print_table(title: str, rows: list[tuple[Sample, Sample | None]]) -> None:
    print(f"\n{title}")
    print(f"{'operation':<46} {'p50 us':>10} {'p95 us':>10} {'min us':>10} {'vs base':>8}")
    for sample, baseline in rows:
        print(sample.row(baseline))


def free_start(size: int) -> int:
    """The first of ``size`` consecutive ports, from where the OS hands one out (ports always
    come from the OS, never a fixed number)."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            start: int = sock.getsockname()[1]
        if start + size <= 65535:
            return start


def write_fsynced(path: Path, data: bytes, tag: str) -> None:
    """Replace ``path`` with ``data`` the crash-safe way: temp file, fsync, rename, fsync of
    the folder."""
    temp = path.with_name(f".{path.name}.{tag}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def console_script() -> str:
    """The ``aioports`` console script next to this interpreter: the one a user runs."""
    import shutil

    return shutil.which("aioports", path=str(Path(sys.executable).parent)) or "aioports"


def filled_registry(path: Path, entries: int) -> tuple[int, str]:
    """Fill the registry at ``path`` with ``entries`` allocations at the start of a range of
    ``entries + 50`` ports from the OS; the range's first port and its text (``START-END``)."""
    from aioports._sync import SyncPortManager

    start = free_start(entries + 50)
    span = f"{start}-{start + entries + 49}"
    door = SyncPortManager(path, range=span)
    for index in range(entries):
        door.allocate(None, {"app": f"app{index % 7}", "service": f"s{index}"})
    return start, span
