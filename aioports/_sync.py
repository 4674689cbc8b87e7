"""The sync door: the registry operations of :class:`~aioports.PortManager` as plain calls.

It runs the same deciding code as the async door (``_allocation.py``, ``_search.py``,
``_transaction.py``) through the sync registry shell: no event loop, no threads, no asyncio
import. The command line, the facade functions below and the pytest fixtures use it; called
from a coroutine it blocks that event loop for the milliseconds of a registry update, which
is right for fixtures and scripts, not for servers (use ``PortManager`` there).

The few operations that wait on other processes over seconds (killing, scanning with
worker processes) run the async code under ``anyio.run`` in a thread of their own.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from . import _checks
from ._allocation import check_group_size, prepare, record, role_names
from ._config import RangeSetting, range_setting, registry_location
from ._models import (
    Allocation,
    AllocationGroup,
    CleanupResult,
    Explanation,
    Occupier,
    PortRange,
    ProbeResult,
    PruneResult,
    RangeLike,
    RepairResult,
    validate_port,
)
from ._named import Call, EnsuredPort, Request, ensure_ports, release_matching, selection
from ._named import prepare as prepare_named
from ._probe import BindProber
from ._prune import stale_entries
from ._registry_sync import SyncRegistry
from ._search import Claim
from ._steps import drive_sync

if TYPE_CHECKING:
    from ._lease import Lease
    from ._manager import PortManager
    from ._wait import WaitResult

__all__ = (
    "SyncPortManager",
    "allocate_sync",
    "lease_sync",
    "release_sync",
    "wait_until_free_sync",
    "wait_until_listening_sync",
)

T = TypeVar("T")


class SyncPortManager:
    """:class:`~aioports.PortManager`'s registry operations for code without an event loop.

    :param registry_path: as for ``PortManager``
    :param range: the default range; else as ``PortManager`` resolves it
    :param lock_timeout: seconds to wait for another process's hold on the registry
    """

    __slots__ = ("_lock_timeout", "_prober", "_range", "_registry")

    def __init__(
        self,
        registry_path: str | os.PathLike[str] | None = None,
        range: RangeLike | None = None,
        *,
        lock_timeout: float = 10.0,
    ) -> None:
        lock_timeout = _checks.seconds("lock_timeout", lock_timeout)
        path, chosen = registry_location(registry_path)
        self._lock_timeout = lock_timeout
        self._range = None if range is None else PortRange.coerce(range)
        self._registry = SyncRegistry(path, lock_timeout=lock_timeout, shared=chosen)
        self._prober = BindProber()

    @property
    def registry_path(self) -> Path:
        return self._registry.path

    def range_setting(self) -> RangeSetting:
        """The default range and where it came from (see ``_config.range_setting``).

        :raises ConfigError: when ``$AIOPORTS_RANGE`` or the saved setting is unusable.
        """
        return range_setting(self._range, registry_path=self.registry_path)

    def get_range(self) -> PortRange:
        """The range used when none is given."""
        if self._range is None:
            self._range = self.range_setting().range
        return self._range

    # -- allocation -------------------------------------------------------------------

    def allocate(
        self,
        range: RangeLike | None = None,
        metadata: Mapping[str, Any] | None = None,
        *,
        owner_pid: int | None = None,
    ) -> int:
        """See :meth:`PortManager.allocate`."""
        return self._allocate(range, metadata, owner_pid, roles=None)[0].port

    def allocate_group(
        self,
        count: int,
        *,
        roles: Sequence[str] | None = None,
        range: RangeLike | None = None,
        metadata: Mapping[str, Any] | None = None,
        owner_pid: int | None = None,
    ) -> AllocationGroup:
        """See :meth:`PortManager.allocate_group`."""
        names = role_names(check_group_size(count), roles)
        allocations = self._allocate(range, metadata, owner_pid, roles=names)
        group_id = allocations[0].group
        assert group_id is not None
        return AllocationGroup(group_id=group_id, allocations=tuple(allocations))

    def release(self, port: int) -> bool:
        """See :meth:`PortManager.release`."""
        port = validate_port(port)
        with self._registry.transaction() as entries:
            return entries.pop(port) is not None

    def release_group(self, group_id: str) -> list[int]:
        """See :meth:`PortManager.release_group`."""
        group_id = _checks.group_id(group_id)
        with self._registry.transaction() as entries:
            ports = entries.group_ports(group_id)
            for port in ports:
                entries.pop(port)
        return ports

    def list_allocations(
        self, *, app: str | None = None, worktree: str | None = None, service: str | None = None
    ) -> list[Allocation]:
        """See :meth:`PortManager.list_allocations`."""
        chosen = selection(app, worktree, service, required=False)
        with self._registry.transaction() as entries:
            allocations = entries.allocations()
        return [a for a in allocations if chosen.picks(a)] if chosen else allocations

    # -- named ports ----------------------------------------------------------------

    def ensure(
        self,
        service: str | None = None,
        *,
        app: str | None = None,
        worktree: str | os.PathLike[str] | None = None,
        preferred: int | None = None,
        range: RangeLike | None = None,
        metadata: Mapping[str, Any] | None = None,
        owner_pid: int | None = None,
    ) -> Allocation:
        """See :meth:`PortManager.ensure`."""
        services = None if service is None else [service]
        call = Call(services, app, worktree, preferred, range, metadata, owner_pid)
        [ensured] = self.ensure_ports(self.ensure_request(call))
        return ensured.allocation

    def ensure_services(
        self,
        services: Sequence[str] | None = None,
        *,
        app: str | None = None,
        worktree: str | os.PathLike[str] | None = None,
        range: RangeLike | None = None,
        metadata: Mapping[str, Any] | None = None,
        owner_pid: int | None = None,
    ) -> list[EnsuredPort]:
        """See :meth:`PortManager.ensure_services`."""
        call = Call(services, app, worktree, None, range, metadata, owner_pid, every=True)
        return self.ensure_ports(self.ensure_request(call))

    def ensure_request(self, call: Call) -> Request:
        """The checked request of an ``ensure`` call, its project included, without touching
        the registry: the command line shows the project it found."""
        return drive_sync(prepare_named(call, self.get_range))

    def ensure_ports(self, request: Request) -> list[EnsuredPort]:
        """Record (or find) the ports of a request from :meth:`ensure_request`."""
        registry = self._registry
        with registry.transaction() as entries:
            steps = ensure_ports(
                entries,
                request.wants,
                self._prober,
                registry.hostname,
                skip=request.skip,
                owner=request.owner,
            )
            return drive_sync(steps)

    def release_matching(
        self, app: str | None = None, worktree: str | None = None, service: str | None = None
    ) -> list[int]:
        """See :meth:`PortManager.release_matching`."""
        wanted = selection(app, worktree, service, required=True)
        with self._registry.transaction() as entries:
            return release_matching(entries, wanted)

    def prune(self, *, dry_run: bool = False) -> PruneResult:
        """See :meth:`PortManager.prune`."""
        with self._registry.transaction(write=not dry_run) as entries:
            pruned = drive_sync(stale_entries(entries, self._prober))
        return PruneResult(tuple(pruned), dry_run=bool(dry_run))

    def cleanup(self) -> CleanupResult:
        """See :meth:`PortManager.cleanup`."""
        with self._registry.transaction() as entries:
            released = entries.clear()
        return CleanupResult(released=released)

    def repair(self, *, force: bool = False) -> RepairResult:
        """See :meth:`PortManager.repair`."""
        return self._registry.repair(force=force)

    @contextlib.contextmanager
    def lease(
        self,
        range: RangeLike | None = None,
        metadata: Mapping[str, Any] | None = None,
        *,
        hold: bool = False,
        host: str = "127.0.0.1",
    ) -> Iterator[Lease]:
        """See :meth:`PortManager.lease`; a plain ``with`` block."""
        lease = self.acquire_lease(range, metadata, hold=hold, host=host)
        try:
            yield lease
        finally:
            lease.release_blocking()

    def acquire_lease(
        self,
        range: RangeLike | None = None,
        metadata: Mapping[str, Any] | None = None,
        *,
        hold: bool = False,
        host: str = "127.0.0.1",
    ) -> Lease:
        """A lease owned by this process, released by ``lease.release_blocking()``."""
        from ._lease import Lease, SocketClaim

        claim = SocketClaim(host) if hold else None
        try:
            [allocation] = self._allocate(range, metadata, os.getpid(), roles=None, claim=claim)
        except BaseException:
            if claim is not None:
                claim.discard()
            raise
        sock = None if claim is None else claim.socket
        return Lease(allocation, sock, release_blocking=self._release_lease)

    def _release_lease(self, allocation: Allocation) -> bool:
        from ._lease import release_if_ours

        with self._registry.transaction() as entries:
            return release_if_ours(entries, allocation)

    def _allocate(
        self,
        range: RangeLike | None,
        metadata: Mapping[str, Any] | None,
        owner_pid: int | None,
        *,
        roles: Sequence[str] | None,
        claim: Claim | None = None,
    ) -> list[Allocation]:
        span = self.get_range() if range is None else PortRange.coerce(range)
        request = drive_sync(prepare(span, metadata, owner_pid, roles=roles))
        registry = self._registry
        with registry.transaction() as entries:
            steps = record(entries, request, self._prober, registry.hostname, claim=claim)
            return drive_sync(steps)

    # -- probing and occupiers --------------------------------------------------------

    def probe(self, port: int) -> ProbeResult:
        """See :meth:`PortManager.probe`."""
        port = validate_port(port)
        return ProbeResult(port=port, status=self._prober.status(port))

    def explain(self, port: int) -> Explanation:
        """See :meth:`PortManager.explain`."""
        from ._errors import ConfigError
        from ._explain import explain_port

        port = validate_port(port)
        with self._registry.transaction() as entries:
            allocation = entries.get(port)
        try:
            span: PortRange | None = self.get_range()
        except ConfigError:  # the port is still worth explaining
            span = None
        return explain_port(self._prober, port, allocation, span)

    def detect_occupiers_by_port(self, ports: Iterable[int]) -> dict[int, list[Occupier]]:
        """See :meth:`PortManager.detect_occupiers_by_port`."""
        from ._occupier import occupiers_by_port

        return occupiers_by_port(tuple(validate_port(port) for port in ports))

    def detect_occupiers(self, port: int) -> list[Occupier]:
        """See :meth:`PortManager.detect_occupiers`."""
        return self.detect_occupiers_by_port((port,))[validate_port(port)]

    def detect_occupier(self, port: int) -> Occupier | None:
        """See :meth:`PortManager.detect_occupier`."""
        occupiers = self.detect_occupiers(port)
        return occupiers[0] if occupiers else None

    # -- what waits on other processes: the async code on a loop of its own ------------

    def run_async(self, func: Callable[[PortManager], Awaitable[T]]) -> T:
        """Run ``func`` with a ``PortManager`` for the same registry and range, on an event
        loop of its own (in a helper thread when this thread already runs one)."""
        from ._manager import PortManager

        # The range as given (None: the manager resolves the default when it needs it).
        manager = PortManager(
            self.registry_path, range=self._range, lock_timeout=self._lock_timeout
        )

        async def main() -> T:
            return await func(manager)

        return run_blocking(main)

    # -- waiting ----------------------------------------------------------------------

    def wait_until_listening(
        self, port: int, *, timeout: float, pid: int | None = None, interval: float = 0.1
    ) -> WaitResult:
        """See :meth:`PortManager.wait_until_listening`; sleeps between polls."""
        from ._wait import LISTENING, Watch, wait_blocking

        watch = Watch(port, LISTENING, timeout=timeout, interval=interval, pid=pid)
        return wait_blocking(watch, watch.poll_listening)

    def wait_until_free(self, port: int, *, timeout: float, interval: float = 0.1) -> WaitResult:
        """See :meth:`PortManager.wait_until_free`; sleeps between probes."""
        from ._wait import FREE, Watch, wait_blocking

        watch = Watch(port, FREE, timeout=timeout, interval=interval, pid=None)
        return wait_blocking(watch, lambda: watch.poll_free(self._prober))


def _in_event_loop() -> bool:
    asyncio = sys.modules.get("asyncio")  # not imported: certainly no loop here
    if asyncio is None:
        return False
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def run_blocking(func: Callable[[], Awaitable[T]]) -> T:
    """``anyio.run(func)``, in a helper thread when this thread already runs an event loop
    (which then waits, as for any call of the sync door)."""
    import anyio

    if not _in_event_loop():
        return anyio.run(func)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="aioports") as pool:
        result: T = pool.submit(anyio.run, func).result()
        return result


def allocate_sync(
    range: RangeLike | None = None,
    metadata: Mapping[str, Any] | None = None,
    *,
    owner_pid: int | None = None,
    registry_path: str | os.PathLike[str] | None = None,
) -> int:
    """:meth:`PortManager.allocate` as a plain call, for scripts and fixtures. It also works
    inside a running event loop, which it blocks for the milliseconds of a registry update
    (await ``PortManager().allocate()`` there instead where that matters).

    :param registry_path: as for :class:`PortManager`; default ``$AIOPORTS_REGISTRY``, else
        the user's state folder
    :return: the port
    :raises NoFreePortError: when every port of the range is allocated or busy.
    """
    return SyncPortManager(registry_path).allocate(range, metadata, owner_pid=owner_pid)


def release_sync(port: int, *, registry_path: str | os.PathLike[str] | None = None) -> bool:
    """:meth:`PortManager.release` as a plain call (see :func:`allocate_sync`).

    :return: True if the port was allocated.
    :raises InvalidPortError: when ``port`` is not a port number.
    """
    return SyncPortManager(registry_path).release(port)


@contextlib.contextmanager
def lease_sync(
    range: RangeLike | None = None,
    metadata: Mapping[str, Any] | None = None,
    *,
    hold: bool = False,
    host: str = "127.0.0.1",
    registry_path: str | os.PathLike[str] | None = None,
) -> Iterator[Lease]:
    """:meth:`PortManager.lease` as a plain ``with`` block: the port (and with ``hold=True``
    its bound socket) is this process's until the block ends, however it ends. Works inside
    a running event loop too (see :func:`allocate_sync`).

    :return: a context manager yielding the :class:`Lease`
    :raises NoFreePortError: on entry, when the range has no free port.
    """
    with SyncPortManager(registry_path).lease(range, metadata, hold=hold, host=host) as lease:
        yield lease


def wait_until_listening_sync(
    port: int, *, timeout: float, pid: int | None = None, interval: float = 0.1
) -> WaitResult:
    """:meth:`PortManager.wait_until_listening` as a plain call: it sleeps between polls
    (blocking the thread, so not for a coroutine; await the manager's method there).

    :raises WaitTimeoutError: when nothing (of ``pid``'s tree) listened in time.
    :raises ProcessGoneError: when ``pid`` does not run, or exits before it listens.
    """
    return SyncPortManager().wait_until_listening(port, timeout=timeout, pid=pid, interval=interval)


def wait_until_free_sync(port: int, *, timeout: float, interval: float = 0.1) -> WaitResult:
    """:meth:`PortManager.wait_until_free` as a plain call (see
    :func:`wait_until_listening_sync`).

    :raises WaitTimeoutError: when the port was still in use at the deadline.
    """
    return SyncPortManager().wait_until_free(port, timeout=timeout, interval=interval)
