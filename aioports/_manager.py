"""PortManager: the async face of aioports; orchestration only, the syscalls live elsewhere."""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import AsyncGenerator, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, NoReturn

import anyio.to_thread

from . import _checks
from ._allocation import check_group_size, json_object, owner_of, prepare, record, role_names
from ._config import range_setting, registry_location
from ._lease import Lease, SocketClaim, lease_context, release_if_ours
from ._models import (
    Allocation,
    AllocationGroup,
    CleanupResult,
    Explanation,
    KillResult,
    Occupier,
    PortRange,
    PortStatus,
    ProbeResult,
    PruneResult,
    RangeLike,
    RepairResult,
    Reservation,
    ScanResult,
    validate_port,
)
from ._named import Call, EnsuredPort, ensure_ports, release_matching, selection
from ._named import prepare as prepare_named
from ._probe import BindProber
from ._prune import stale_entries
from ._registry import Registry
from ._scan import iter_scan as iter_scan_range
from ._scan import resolve_lanes
from ._scan import scan as scan_range
from ._search import Claim
from ._steps import drive_async
from ._takeover import detect, detect_many, kill_port, reserve_port, validate_timeout

if TYPE_CHECKING:
    from ._wait import WaitResult

__all__ = ("PortManager",)

# Up to this many registry entries, building their records is quicker than a thread hop.
_INLINE_RECORDS = 256


class PortManager:
    """Hands out ports from a registry that every process of the user on this host shares.

    State lives on the instance; nothing is read or created until a method needs it.

    :param registry_path: the registry file; default ``$AIOPORTS_REGISTRY``, else the user's
        state folder (``$XDG_STATE_HOME/aioports/registry.json`` on Linux)
    :param config: a mapping like ``{"ports": {"range": {"start": 4000, "end": 4999}}}``
    :param range: the default range; wins over ``config``, ``$AIOPORTS_RANGE``, the range
        saved by ``aioports set-range`` and 3000-3999, in that order (read on first use)
    :param lock_timeout: seconds to wait for another process's hold on the registry
    :param poll_interval: ignored since 0.2, when waiting for the lock moved into the kernel
        (a waiter is woken the moment the holder lets go); kept so existing calls work
    :raises InvalidRangeError: when ``range`` or ``config`` is malformed.
    """

    def __init__(
        self,
        registry_path: str | os.PathLike[str] | None = None,
        config: Mapping[str, Any] | None = None,
        range: RangeLike | None = None,
        *,
        lock_timeout: float = 10.0,
        poll_interval: float = 0.05,
    ) -> None:
        lock_timeout = _checks.seconds("lock_timeout", lock_timeout)
        _checks.seconds("poll_interval", poll_interval)
        path, chosen = registry_location(registry_path)
        # Arguments are checked now; $AIOPORTS_RANGE and the saved setting are read on first
        # use, so a broken one fails only the calls that need the default range.
        setting = range_setting(range, config, {})
        self._range: PortRange | None = None if setting.source == "default" else setting.range
        self._registry = Registry(
            path, lock_timeout=lock_timeout, poll_interval=poll_interval, shared=chosen
        )
        self._prober = BindProber()

    def __repr__(self) -> str:
        span = "unresolved" if self._range is None else str(self._range)
        return f"PortManager(registry_path={str(self.registry_path)!r}, range={span})"

    @property
    def registry_path(self) -> Path:
        """The registry file this manager reads and writes."""
        return self._registry.path

    async def __aenter__(self) -> PortManager:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def __enter__(self) -> NoReturn:
        raise TypeError("PortManager is asynchronous: use 'async with PortManager() as pm'")

    def __exit__(self, *args: object) -> None:  # pragma: no cover - __enter__ always raises
        return None

    # -- range ------------------------------------------------------------------------

    def get_range(self) -> PortRange:
        """The range ``allocate()`` uses when it is given none.

        :raises ConfigError: when ``$AIOPORTS_RANGE`` or the saved setting cannot be used.
        """
        if self._range is None:
            self._range = range_setting(registry_path=self.registry_path).range
        return self._range

    async def _default_range(self) -> PortRange:
        if self._range is None:
            return await anyio.to_thread.run_sync(self.get_range)  # may read the settings
        return self._range

    def set_range(self, range: RangeLike) -> None:
        """Change the default range of this manager.

        :raises InvalidRangeError: when ``range`` is malformed, empty or inverted.
        """
        self._range = PortRange.coerce(range)

    # -- allocation -------------------------------------------------------------------

    async def allocate(
        self,
        range: RangeLike | None = None,
        metadata: Mapping[str, Any] | None = None,
        *,
        owner_pid: int | None = None,
    ) -> int:
        """Allocate the lowest port of the range that no live allocation holds and a server
        could bind right now, and record it in the registry.

        :param range: where to look; default :meth:`get_range`
        :param metadata: a JSON object stored with the allocation (app, service, ...)
        :param owner_pid: release the port automatically once this process has exited;
            by default the allocation stays until released
        :return: the port
        :raises NoFreePortError: when every port of the range is allocated or busy.
        :raises InvalidRangeError, InvalidMetadataError, ProcessGoneError: for bad arguments.
        """
        group = await self._allocate_ports(range, metadata, owner_pid, roles=None)
        return group[0].port

    async def allocate_group(
        self,
        count: int,
        *,
        roles: Sequence[str] | None = None,
        range: RangeLike | None = None,
        metadata: Mapping[str, Any] | None = None,
        owner_pid: int | None = None,
    ) -> AllocationGroup:
        """Allocate ``count`` ports in one registry update, all or none, one per role.

        The ports are contiguous when the range has such a run free; otherwise the lowest
        free ones.

        :param roles: a distinct name per port; default ``port1`` ... ``portN``
        :raises ValueError: when ``count`` is not positive or ``roles`` do not match it.
        :raises NoFreePortError: when the range has fewer than ``count`` free ports.
        """
        names = role_names(check_group_size(count), roles)
        allocations = await self._allocate_ports(range, metadata, owner_pid, roles=names)
        group_id = allocations[0].group
        assert group_id is not None
        return AllocationGroup(group_id=group_id, allocations=tuple(allocations))

    async def release(self, port: int) -> bool:
        """Remove the allocation of ``port``.

        :return: True if it was allocated, False if it was not.
        :raises InvalidPortError: when ``port`` is not a port number.
        """
        port = validate_port(port)
        async with self._registry.transaction() as entries:
            return entries.pop(port) is not None

    async def release_group(self, group_id: str) -> list[int]:
        """Remove every allocation of a group.

        :return: the ports released, ascending; empty when no such group is allocated.
        :raises ValueError: when ``group_id`` is not a non-empty string.
        """
        group_id = _checks.group_id(group_id)
        async with self._registry.transaction() as entries:
            ports = entries.group_ports(group_id)
            for port in ports:
                entries.pop(port)
        return ports

    async def list_allocations(
        self, *, app: str | None = None, worktree: str | None = None, service: str | None = None
    ) -> list[Allocation]:
        """Every live allocation, by port; with ``app``, ``worktree`` or ``service``, those
        that match (see :meth:`Allocation.matches`). Reads the shared registry, hence
        awaitable."""
        chosen = selection(app, worktree, service, required=False)
        async with self._registry.transaction() as entries:
            if len(entries) < _INLINE_RECORDS:
                allocations = entries.allocations()
            else:
                # Thousands of records take tens of milliseconds to build: not on the loop.
                allocations = await anyio.to_thread.run_sync(entries.allocations)
        return [a for a in allocations if chosen.picks(a)] if chosen else allocations

    async def cleanup(self) -> CleanupResult:
        """Remove every allocation from the registry, whoever made it."""
        async with self._registry.transaction() as entries:
            released = entries.clear()
        return CleanupResult(released=released)

    async def repair(self, *, force: bool = False) -> RepairResult:
        """Move an unusable registry aside (``registry.json.corrupt-<UTC time>``) and write
        what is left of it: its valid entries (the bad ones are named in the result and kept
        in the backup), or an empty registry when the document itself is unusable. A healthy
        registry is left alone.

        :param force: also move aside what is no aioports registry at all (a folder, another
            program's JSON file); without it those are refused
        :raises RegistryError: for such a file without ``force``, and for a FIFO, a device
            or a socket at the path, which is never moved.
        """
        return await self._registry.repair(force=force)

    # -- named ports ----------------------------------------------------------------

    async def ensure(
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
        """The port of one service of one app in one worktree: the one recorded for that key,
        or a new one, recorded with it. A dev server calls this on every start and gets the
        same port each time.

        A recorded port is returned as it is (same port, same ``allocated_at``), even when
        something listens on it now: that is usually the service's own previous run. A new
        key takes ``preferred`` when that port is free and unallocated, else the first free
        port of the range from a start derived from the key (wrapping around), skipping the
        browser-unsafe and reserved ports.

        :param service: the service; default the manifest's first one, else ``default``
        :param app: default the project's (``[tool.aioports] app``, ``[project] name``,
            ``package.json``'s ``name``, the main checkout's folder name)
        :param worktree: a folder of the checkout; default the current folder. The key holds
            the absolute path of the git worktree it belongs to (or the project folder)
        :param preferred: the port a new key takes when it can; default the manifest's
        :param range: where a new key's port is searched for; default the manifest's
            ``range``, else :meth:`get_range`
        :param metadata: a JSON object stored with a new entry (the branch is added)
        :param owner_pid: release a new entry once this process has exited
        :raises NoFreePortError: when a new key's range has no free port.
        :raises InvalidArgumentError, ArgumentTypeError, InvalidPortError: for bad arguments.
        :raises ManifestError: when the project's manifest is unusable.
        """
        services = None if service is None else [service]
        call = Call(services, app, worktree, preferred, range, metadata, owner_pid)
        [ensured] = await self._ensure(call)
        return ensured.allocation

    async def ensure_services(
        self,
        services: Sequence[str] | None = None,
        *,
        app: str | None = None,
        worktree: str | os.PathLike[str] | None = None,
        range: RangeLike | None = None,
        metadata: Mapping[str, Any] | None = None,
        owner_pid: int | None = None,
    ) -> list[EnsuredPort]:
        """:meth:`ensure` for several services in one registry update, all or none.

        :param services: default every service of the project's manifest (else ``default``)
        :return: one :class:`EnsuredPort` per service, in order, saying whether it is new
            and which environment variable it goes in
        """
        call = Call(services, app, worktree, None, range, metadata, owner_pid, every=True)
        return await self._ensure(call)

    async def release_matching(
        self, app: str | None = None, worktree: str | None = None, service: str | None = None
    ) -> list[int]:
        """Remove every allocation of an app, a worktree, a service or a mix of them (see
        :meth:`Allocation.matches`).

        :return: the ports released, ascending.
        :raises InvalidArgumentError: when no part is given (``cleanup()`` removes all).
        """
        wanted = selection(app, worktree, service, required=True)
        async with self._registry.transaction() as entries:
            return release_matching(entries, wanted)

    async def prune(self, *, dry_run: bool = False) -> PruneResult:
        """Remove the provably stale entries: those whose owner process has exited, and
        named ports whose worktree folder is gone and on which nothing listens.

        :param dry_run: find them, remove nothing
        """
        async with self._registry.transaction(write=not dry_run) as entries:
            pruned = await drive_async(stale_entries(entries, self._prober))
        return PruneResult(tuple(pruned), dry_run=bool(dry_run))

    async def _ensure(self, call: Call) -> list[EnsuredPort]:
        request = await drive_async(prepare_named(call, self.get_range))
        registry = self._registry
        async with registry.transaction() as entries:
            steps = ensure_ports(
                entries,
                request.wants,
                self._prober,
                registry.hostname,
                skip=request.skip,
                owner=request.owner,
            )
            return await drive_async(steps)

    # -- leases ---------------------------------------------------------------------

    def lease(
        self,
        range: RangeLike | None = None,
        metadata: Mapping[str, Any] | None = None,
        *,
        hold: bool = False,
        host: str = "127.0.0.1",
    ) -> contextlib.AbstractAsyncContextManager[Lease]:
        """Allocate a port for the life of an ``async with`` block, owned by this process.

        The port is released when the block ends, even on an exception or a cancellation,
        and reclaimed by the next registry operation if this process dies first.

        :param range: where to look; default :meth:`get_range`
        :param metadata: a JSON object stored with the allocation
        :param hold: also bind a socket to the port (see :meth:`allocate_socket`), available
            as ``lease.socket``
        :param host: the address the held socket binds, an IP literal; IPv6 picks AF_INET6
        :return: an async context manager yielding the :class:`Lease`
        :raises NoFreePortError: on entry, when the range has no free port.
        :raises InvalidRangeError, InvalidMetadataError, ValueError: for bad arguments.
        """
        return lease_context(functools.partial(self._lease, range, metadata, hold=hold, host=host))

    async def allocate_socket(
        self,
        range: RangeLike | None = None,
        metadata: Mapping[str, Any] | None = None,
        *,
        host: str = "127.0.0.1",
    ) -> Lease:
        """Allocate a port together with a socket already bound to it, not yet listening.

        The bind happens while the registry lock is held, so neither another aioports user
        nor any other program can take the port before the server starts on that socket.
        Release the lease when done (``async with lease:`` does).

        :param host: the address to bind, an IP literal; IPv6 picks AF_INET6 (IPv6 only)
        :return: the :class:`Lease`; its ``socket`` is bound, and keeps rival servers off the
            port (see the dev-servers guide, "restarts keep their port")
        :raises NoFreePortError: when no port of the range can be bound.
        :raises InvalidRangeError, InvalidMetadataError, ValueError: for bad arguments.
        """
        return await self._lease(range, metadata, hold=True, host=host)

    async def _lease(
        self,
        range: RangeLike | None,
        metadata: Mapping[str, Any] | None,
        *,
        hold: bool,
        host: str,
    ) -> Lease:
        claim = SocketClaim(host) if hold else None
        try:
            [allocation] = await self._allocate_ports(
                range, metadata, os.getpid(), roles=None, claim=claim
            )
        except BaseException:
            if claim is not None:
                claim.discard()
            raise
        return Lease(allocation, None if claim is None else claim.socket, self._release_lease)

    async def _release_lease(self, allocation: Allocation) -> bool:
        async with self._registry.transaction() as entries:
            return release_if_ours(entries, allocation)

    # -- probing ----------------------------------------------------------------------

    async def probe(self, port: int) -> ProbeResult:
        """Whether a typical server could start on ``port`` now (a snapshot, not a promise).

        :raises InvalidPortError: when ``port`` is not a port number.
        """
        port = validate_port(port)
        return _result(port, self._prober.status(port))

    async def explain(self, port: int) -> Explanation:
        """Everything that stands between a server and ``port``, each a :class:`Reason` with
        its facts: its registry entry (and whether its owner lives), every process holding
        it, TIME_WAIT leftovers, a privileged port, the default range; and the verdict
        (``free``, ``in_use``, ``allocated`` or ``denied``). A snapshot, like :meth:`probe`.

        :raises InvalidPortError: when ``port`` is not a port number.
        :raises RegistryError: when the registry cannot be read.
        """
        from ._errors import ConfigError
        from ._explain import explain_port

        port = validate_port(port)
        async with self._registry.transaction() as entries:
            allocation = entries.get(port)
        try:
            span: PortRange | None = await self._default_range()
        except ConfigError:  # the port is still worth explaining
            span = None
        return await anyio.to_thread.run_sync(explain_port, self._prober, port, allocation, span)

    # -- occupiers --------------------------------------------------------------------

    async def detect_occupier(self, port: int) -> Occupier | None:
        """Who holds ``port``: the first of :meth:`detect_occupiers`, or None when nothing does.

        :raises InvalidPortError: when ``port`` is not a port number.
        :raises PermissionDeniedError: when the OS hides the socket table (macOS, no root).
        """
        occupiers = await self.detect_occupiers(port)
        return occupiers[0] if occupiers else None

    async def detect_occupiers(self, port: int) -> list[Occupier]:
        """Every process holding ``port``: a forked server (gunicorn, uvicorn workers) or an
        ``SO_REUSEPORT`` group has several, and killing one of them frees nothing.

        Listeners come first. A socket whose process this user cannot see is an occupier
        with ``pid=None`` (and its ``uid`` on Linux), never "free"; a port held only by a
        TIME_WAIT socket gets one ``pid=None`` occupier with ``status="TIME_WAIT"``.

        :return: the occupiers; empty when nothing holds the port.
        :raises InvalidPortError: when ``port`` is not a port number.
        :raises PermissionDeniedError: when the OS hides the socket table (macOS, no root).
        """
        return await detect(validate_port(port))

    async def detect_occupiers_by_port(self, ports: Iterable[int]) -> dict[int, list[Occupier]]:
        """:meth:`detect_occupiers` for many ports at once, from ONE snapshot of the socket
        table: a dashboard of hundreds of entries costs one lookup, not hundreds.

        :return: every port asked for, mapped to its occupiers (empty when nothing holds it).
        :raises InvalidPortError: when any of ``ports`` is not a port number.
        :raises PermissionDeniedError: when the OS hides the socket table (macOS, no root).
        """
        return await detect_many([validate_port(port) for port in ports])

    async def kill_occupier(
        self,
        port: int,
        *,
        force: bool = False,
        timeout: float = 3.0,  # noqa: ASYNC109 - a grace period, not a call deadline
        escalate: bool = False,
        allow_other_users: bool = False,
    ) -> KillResult:
        """Stop every process holding ``port``, and return once they have exited and the
        port is bindable (or ``timeout`` has passed).

        Each process is re-identified by PID *and* start time right before each signal, so a
        recycled PID is never hit. Nothing is signalled unless every holder may be.

        :param force: send SIGKILL (Windows: TerminateProcess) instead of SIGTERM
        :param timeout: seconds to wait for the holders to exit and the port to free up
        :param escalate: send SIGKILL to holders still alive ``timeout`` after SIGTERM (and
            wait up to ``timeout`` again)
        :param allow_other_users: as root, allow signalling another user's process
        :return: ``killed=False`` with a message when nothing held the port, the holder exited
            on its own first, or it outlived the timeout (a SIGTERM it ignored).
        :raises InvalidPortError: when ``port`` is not a port number.
        :raises ValueError: when ``timeout`` is not a finite number of seconds >= 0.
        :raises PermissionDeniedError: for PID 1, this process, its parent or its process
            group leader, another user's process (see ``allow_other_users``), a holder this
            user cannot see, or a signal the OS refused.
        """
        port = validate_port(port)
        return await kill_port(
            self._prober,
            port,
            force=bool(force),
            grace=validate_timeout(timeout),
            escalate=escalate,
            allow_other_users=allow_other_users,
        )

    async def reserve(
        self,
        port: int,
        *,
        kill_if_occupied: bool = False,
        force: bool = False,
        metadata: Mapping[str, Any] | None = None,
        timeout: float = 3.0,  # noqa: ASYNC109 - a grace period, not a call deadline
        escalate: bool = False,
        allow_other_users: bool = False,
        owner_pid: int | None = None,
    ) -> Reservation:
        """Record exactly ``port`` in the registry, freeing it first if asked.

        Reserving a port that is already recorded with the same ``app``, ``worktree`` and
        ``service`` (in ``metadata``) succeeds and returns that entry: a script that runs
        twice gets the same answer twice.

        :param kill_if_occupied: stop the processes holding it, as :meth:`kill_occupier`
        :param force: kill with SIGKILL rather than SIGTERM
        :param metadata: a JSON object stored with the allocation
        :param timeout: see :meth:`kill_occupier`
        :param escalate: see :meth:`kill_occupier`
        :param allow_other_users: see :meth:`kill_occupier`
        :param owner_pid: release the port once this process has exited
        :return: the port, whether it was occupied and killed, and the registry entry.
        :raises PortAlreadyAllocatedError: when a live registry entry of another key holds it.
        :raises PortInUseError: when a process holds it and ``kill_if_occupied`` is False,
            or the kill did not free it; nothing is recorded then.
        :raises PermissionDeniedError: as :meth:`kill_occupier`; nothing is recorded.
        :raises InvalidPortError, InvalidMetadataError, ValueError: for bad arguments.
        """
        port = validate_port(port)
        stored = json_object(metadata)
        owner = None
        if owner_pid is not None:
            pid = _checks.owner_pid(owner_pid)
            owner = await anyio.to_thread.run_sync(owner_of, pid)
        return await reserve_port(
            self._registry,
            self._prober,
            port,
            owner=owner,
            metadata=stored,
            kill_if_occupied=bool(kill_if_occupied),
            force=bool(force),
            grace=validate_timeout(timeout),
            escalate=escalate,
            allow_other_users=allow_other_users,
        )

    # -- scanning ---------------------------------------------------------------------

    async def scan(
        self,
        range: RangeLike | None = None,
        *,
        concurrency: int | None = None,
        with_occupiers: bool = False,
    ) -> ScanResult:
        """Probe every port of a range, with exactly the answers :meth:`probe` would give
        port by port (a snapshot, like every probe). The event loop keeps running other tasks
        throughout; a large range is shared with short-lived worker processes.

        :param range: the ports to scan, up to 1-65535; default :meth:`get_range`
        :param concurrency: how many processes share the scan, this one included; default
            one per CPU (at most 4) for ranges of 8,192 ports or more, else 1
        :param with_occupiers: also name the holders of the in-use ports, from one snapshot of
            the socket table (``ScanResult.occupiers``)
        :return: the in-use ports with their results, and the number of free ones
        :raises InvalidRangeError: when ``range`` is malformed.
        :raises ValueError: when ``concurrency`` is not a positive whole number.
        """
        span = await self._default_range() if range is None else PortRange.coerce(range)
        lanes = resolve_lanes(span, concurrency)
        return await scan_range(self._prober, span, lanes=lanes, with_occupiers=with_occupiers)

    async def iter_scan(
        self, range: RangeLike | None = None, *, concurrency: int | None = None
    ) -> AsyncGenerator[ProbeResult, None]:
        """Like :meth:`scan`, but yield a :class:`ProbeResult` for every port, free ones
        included, in port order, as the scan goes (for progress). Wrap it in
        ``contextlib.aclosing`` to stop a scan early and end its workers at once.

        :raises InvalidRangeError: when ``range`` is malformed.
        :raises ValueError: when ``concurrency`` is not a positive whole number.
        """
        span = await self._default_range() if range is None else PortRange.coerce(range)
        lanes = resolve_lanes(span, concurrency)
        async with contextlib.aclosing(iter_scan_range(self._prober, span, lanes=lanes)) as results:
            async for result in results:
                yield result

    # -- internals --------------------------------------------------------------------

    async def _allocate_ports(
        self,
        range: RangeLike | None,
        metadata: Mapping[str, Any] | None,
        owner_pid: int | None,
        *,
        roles: Sequence[str] | None,
        claim: Claim | None = None,
    ) -> list[Allocation]:
        span = await self._default_range() if range is None else PortRange.coerce(range)
        request = await drive_async(prepare(span, metadata, owner_pid, roles=roles))
        registry = self._registry
        async with registry.transaction() as entries:
            steps = record(entries, request, self._prober, registry.hostname, claim=claim)
            return await drive_async(steps)

    # -- waiting ----------------------------------------------------------------------

    async def wait_until_listening(
        self,
        port: int,
        *,
        timeout: float,  # noqa: ASYNC109 - the wait's own deadline, as its callers expect
        pid: int | None = None,
        interval: float = 0.1,
    ) -> WaitResult:
        """Return once a socket listens on ``port``, on any address, IPv4 or IPv6, as the
        kernel's socket table says (not a connect(), which misses a server on ``::1`` only
        or on another address, and which a proxy answers before its backend listens).

        :param timeout: give up after this many seconds
        :param pid: the listener must be this process or one of its descendants
        :param interval: seconds between two looks at the socket table (each costs tens of
            microseconds on Linux); the wait returns within one interval of the change
        :return: the ports' listeners, their addresses and how long it took
        :raises WaitTimeoutError: when nothing (of ``pid``'s tree) listened in time.
        :raises ProcessGoneError: when ``pid`` does not run, or exits before it listens.
        :raises PermissionDeniedError: when the OS hides the socket table (macOS, no root).
        :raises InvalidPortError, InvalidArgumentError: for bad arguments.
        """
        from ._wait import LISTENING, Watch, wait_async

        watch = Watch(port, LISTENING, timeout=timeout, interval=interval, pid=pid)
        return await wait_async(watch, watch.poll_listening, in_thread=True)

    async def wait_until_free(
        self,
        port: int,
        *,
        timeout: float,  # noqa: ASYNC109 - the wait's own deadline, as its callers expect
        interval: float = 0.1,
    ) -> WaitResult:
        """Return once a server could start on ``port``, as :meth:`probe` says.

        :param timeout: give up after this many seconds
        :param interval: seconds between two probes (a bind each)
        :raises WaitTimeoutError: when the port was still in use at the deadline.
        :raises InvalidPortError, InvalidArgumentError: for bad arguments.
        """
        from ._wait import FREE, Watch, wait_async

        watch = Watch(port, FREE, timeout=timeout, interval=interval, pid=None)
        return await wait_async(watch, lambda: watch.poll_free(self._prober), in_thread=False)


def _result(port: int, status: PortStatus) -> ProbeResult:
    return ProbeResult(port=port, status=status)
