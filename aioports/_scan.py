"""Whole-range scans: the answers ``probe()`` gives, port by port, at the speed of the kernel.

Why it is fast:

- Each port costs one bind of a dual-stack ``::`` socket (see ``_probe.py``); only the ports
  that bind refuses get the exact double bind, which also tells ``in_use`` from ``denied``.
- Probes run inline on the event loop in blocks of :data:`BLOCK` ports, with a checkpoint
  between blocks (about a millisecond apart), so other tasks keep running.
- A large range is split across processes: the loop scans the first share while worker
  processes (``python -I -S``, the source of ``bind_failures`` and nothing else, so they
  start in milliseconds) scan the rest. Threads do not help: the GIL serialises the bind loop
  and two threads measured slower than one. Each port a worker reports refused is checked
  again in this process; a worker that cannot start or fails leaves its share to the loop.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import sys
import time
from collections.abc import AsyncGenerator, Iterable

import anyio
import anyio.abc
import anyio.lowlevel
import anyio.to_thread

from . import _checks, _log
from ._errors import PermissionDeniedError
from ._models import Occupier, PortRange, PortStatus, ProbeResult, ScanResult
from ._occupier import occupiers_by_port
from ._probe import BindProber, bind_failures

__all__ = ("holders_by_port", "iter_scan", "resolve_lanes", "scan")

# Ports probed between two checkpoints: about a millisecond of binds.
BLOCK = 256
# Below this many ports a worker process costs more to start than it saves.
WORKER_MIN_PORTS = 8192
# Never split a scan across more processes than this, whatever the CPU count.
MAX_LANES = 4
# Nor more than this when the caller asks: each lane is an interpreter to start.
MAX_EXPLICIT_LANES = 16


def resolve_lanes(span: PortRange, concurrency: int | None) -> int:
    """How many processes (this one included) share a scan of ``span``: an explicit
    ``concurrency`` is capped at :data:`MAX_EXPLICIT_LANES` and at one port per process.

    :raises ValueError: when ``concurrency`` is not None or a positive whole number.
    """
    if concurrency is not None:
        return min(  # a whole number >= 1, else InvalidArgumentError
            _checks.positive_int("concurrency", concurrency), MAX_EXPLICIT_LANES, len(span)
        )
    if len(span) < WORKER_MIN_PORTS:
        return 1
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_LANES))


async def scan(
    prober: BindProber, span: PortRange, *, lanes: int, with_occupiers: bool = False
) -> ScanResult:
    """Scan ``span`` and sum it up (see :meth:`PortManager.scan`)."""
    began = time.perf_counter()
    in_use: list[ProbeResult] = []
    async with contextlib.aclosing(_refusals(prober, span, lanes)) as blocks:
        async for _, refused in blocks:
            in_use.extend(refused)
    occupiers = None
    if with_occupiers:
        wanted = frozenset(result.port for result in in_use)
        occupiers = await anyio.to_thread.run_sync(holders_by_port, wanted)
    return ScanResult(
        range=span,
        in_use=tuple(in_use),
        free=len(span) - len(in_use),
        elapsed=time.perf_counter() - began,
        occupiers=occupiers,
    )


async def iter_scan(
    prober: BindProber, span: PortRange, *, lanes: int
) -> AsyncGenerator[ProbeResult, None]:
    """A result for every port of ``span``, in port order (see :meth:`PortManager.iter_scan`)."""
    async with contextlib.aclosing(_refusals(prober, span, lanes)) as blocks:
        async for block, refused in blocks:
            by_port = {result.port: result for result in refused}
            for port in block:
                yield by_port.get(port) or ProbeResult(port=port, status=PortStatus.FREE)


async def _refusals(
    prober: BindProber, span: PortRange, lanes: int
) -> AsyncGenerator[tuple[range, list[ProbeResult]], None]:
    """Each block of ``span`` in port order, with the results of its ports that are not free."""
    family = prober.fast_family
    shares = _shares(span, lanes if family is not None else 1)
    workers: list[_Worker | None] = []
    try:
        if len(shares) > 1:
            assert family is not None
            code = await anyio.to_thread.run_sync(_worker_code)
            workers = [await _Worker.start(code, share, family) for share in shares[1:]]
        own = shares[0]
        for block_start in range(own.start, own.stop, BLOCK):
            block = range(block_start, min(block_start + BLOCK, own.stop))
            yield block, _confirm(prober, prober.failures(block.start, block.stop))
            await anyio.lowlevel.checkpoint()
        for share, worker in zip(shares[1:], workers, strict=True):
            refused = None if worker is None else await worker.failures()
            by_block: dict[int, list[int]] = {}
            for port in refused or ():
                by_block.setdefault((port - share.start) // BLOCK, []).append(port)
            for index, block_start in enumerate(range(share.start, share.stop, BLOCK)):
                block = range(block_start, min(block_start + BLOCK, share.stop))
                if refused is None:
                    failed = prober.failures(block.start, block.stop)
                else:
                    failed = by_block.get(index, [])
                yield block, _confirm(prober, failed)
                await anyio.lowlevel.checkpoint()
    finally:
        for worker in workers:
            if worker is not None:
                await worker.close()


def _shares(span: PortRange, lanes: int) -> list[range]:
    size = -(-len(span) // lanes)
    return [
        range(start, min(start + size, span.end + 1))
        for start in range(span.start, span.end + 1, size)
    ]


def _confirm(prober: BindProber, ports: Iterable[int]) -> list[ProbeResult]:
    """The exact results of ports the fast bind refused, leaving out any that turn out free."""
    results = []
    for port in ports:
        status = prober.exact_status(port)
        if status is not PortStatus.FREE:
            results.append(ProbeResult(port=port, status=status))
    return results


def _worker_code() -> str:
    """The worker's whole program: ``bind_failures`` and a loop printing what it refused."""
    return (
        "import socket, sys\n"
        + inspect.getsource(bind_failures)
        + "for port, err in bind_failures(*map(int, sys.argv[1:4])):\n"
        + "    sys.stdout.write(f'{port} {err}\\n')\n"
    )


class _Worker:
    """A child process scanning one share of the range."""

    def __init__(self, process: anyio.abc.Process, share: range) -> None:
        self._process = process
        self._share = share

    @classmethod
    async def start(cls, code: str, share: range, family: int) -> _Worker | None:
        args = [str(share.start), str(share.stop), str(family)]
        try:
            process = await anyio.open_process([sys.executable, "-I", "-S", "-c", code, *args])
        except OSError as exc:
            _log.debug("scan worker did not start (%s); the loop scans its share", exc)
            return None
        return cls(process, share)

    async def failures(self) -> list[int] | None:
        """The ports the worker's bind refused, or None if it failed (its share is then
        scanned here)."""
        stdout = self._process.stdout
        assert stdout is not None
        chunks = [chunk async for chunk in stdout]
        if await self._process.wait() != 0:
            _log.debug("scan worker for %s exited with %s", self._share, self._process.returncode)
            return None
        try:
            return [int(line.split()[0]) for line in b"".join(chunks).splitlines()]
        except (ValueError, IndexError):
            return None

    async def close(self) -> None:
        if self._process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()
        with anyio.CancelScope(shield=True):
            await self._process.aclose()


def holders_by_port(ports: frozenset[int]) -> dict[int, tuple[Occupier, ...]]:
    """The holders of ``ports`` from ONE snapshot of the socket table (the occupier module's
    lookup). Blocking: call it in a worker thread. A socket table the OS hides gives no
    holders rather than failing the scan, which has already succeeded.
    """
    try:
        found = occupiers_by_port(ports)
    except PermissionDeniedError as exc:
        _log.debug("socket table not readable (%s): no occupiers", exc)
        return {}
    return {port: tuple(occupiers) for port, occupiers in found.items() if occupiers}
