"""PortManager: the async face of aioports; orchestration only, the syscalls live elsewhere."""

from __future__ import annotations

import contextlib
import functools
import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn

import anyio
import anyio.lowlevel
import anyio.to_thread
import orjson

from ._config import default_registry_path, resolve_range
from ._errors import InvalidMetadataError
from ._lease import Lease, SocketClaim, lease_context, release_if_ours
from ._models import (
    Allocation,
    AllocationGroup,
    CleanupResult,
    PortRange,
    PortStatus,
    ProbeResult,
    RangeLike,
    RepairResult,
    validate_port,
)
from ._probe import BindProber
from ._process import process_start_time
from ._registry import Registry
from ._search import find_free_ports

__all__ = ("PortManager",)


class PortManager:
    """Hands out ports from a registry that every process of the user on this host shares.

    State lives on the instance; nothing is read or created until a method needs it.

    :param registry_path: the registry file; default ``$AIOPORTS_REGISTRY``, else the user's
        state folder (``$XDG_STATE_HOME/aioports/registry.json`` on Linux)
    :param config: a mapping like ``{"ports": {"range": {"start": 4000, "end": 4999}}}``
    :param range: the default range; wins over ``config``, ``$AIOPORTS_RANGE`` and 3000-3999
    :param lock_timeout: seconds to wait for another process's hold on the registry
    :param poll_interval: the longest pause between two attempts to take the registry lock
    :raises InvalidRangeError: when the default range is malformed.
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
        path = default_registry_path() if registry_path is None else Path(registry_path)
        self._range = resolve_range(range, config)
        self._registry = Registry(
            path.expanduser().absolute(), lock_timeout=lock_timeout, poll_interval=poll_interval
        )
        self._prober = BindProber()

    def __repr__(self) -> str:
        return f"PortManager(registry_path={str(self.registry_path)!r}, range={self._range})"

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
        """The range ``allocate()`` uses when it is given none."""
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
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"a group needs a positive whole number of ports, got {count!r}")
        names = _role_names(count, roles)
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
        async with self._registry.transaction() as leases:
            return leases.pop(port) is not None

    async def release_group(self, group_id: str) -> list[int]:
        """Remove every allocation of a group.

        :return: the ports released, ascending; empty when no such group is allocated.
        """
        async with self._registry.transaction() as leases:
            ports = leases.group_ports(group_id)
            for port in ports:
                leases.pop(port)
        return ports

    async def list_allocations(self) -> list[Allocation]:
        """Every live allocation, by port. Reads the shared registry, hence awaitable."""
        async with self._registry.transaction() as leases:
            return leases.allocations()

    async def cleanup(self) -> CleanupResult:
        """Remove every allocation from the registry, whoever made it."""
        async with self._registry.transaction() as leases:
            released = leases.clear()
        return CleanupResult(cleaned=True, released=released)

    async def repair(self) -> RepairResult:
        """Move an unusable registry aside (``registry.json.corrupt-<UTC time>``) and start
        an empty one; a healthy registry is left alone."""
        return await self._registry.repair()

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
        :return: the :class:`Lease`; its ``socket`` is bound (without ``SO_REUSEADDR``)
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
        async with self._registry.transaction() as leases:
            return release_if_ours(leases, allocation)

    # -- probing ----------------------------------------------------------------------

    async def probe(self, port: int) -> ProbeResult:
        """Whether a typical server could start on ``port`` now (a snapshot, not a promise).

        :raises InvalidPortError: when ``port`` is not a port number.
        """
        port = validate_port(port)
        return _result(port, self._prober.status(port))

    # -- internals --------------------------------------------------------------------

    async def _allocate_ports(
        self,
        range: RangeLike | None,
        metadata: Mapping[str, Any] | None,
        owner_pid: int | None,
        *,
        roles: Sequence[str] | None,
        claim: Callable[[int], bool] | None = None,
    ) -> list[Allocation]:
        span = self._range if range is None else PortRange.coerce(range)
        stored_metadata = _json_object(metadata)
        owner_start: float | None = None
        if owner_pid is not None:
            if isinstance(owner_pid, bool) or not isinstance(owner_pid, int) or owner_pid < 1:
                raise ValueError(f"owner_pid must be a positive PID, got {owner_pid!r}")
            owner_start = await anyio.to_thread.run_sync(process_start_time, owner_pid)
        count = 1 if roles is None else len(roles)
        async with self._registry.transaction() as leases:
            ports = await find_free_ports(self._prober, span, count, leases, claim=claim)
            now = datetime.now(UTC)
            group = None if roles is None else uuid.uuid4().hex[:12]
            allocations = []
            for index, port in enumerate(ports):
                allocation = Allocation(
                    port=port,
                    allocated_at=now,
                    metadata=stored_metadata,
                    pid=os.getpid(),
                    hostname=self._registry.hostname,
                    owner_pid=owner_pid,
                    owner_create_time=owner_start,
                    group=group,
                    role=None if roles is None else roles[index],
                )
                leases.add(allocation)
                allocations.append(allocation)
        return allocations


def _result(port: int, status: PortStatus) -> ProbeResult:
    return ProbeResult(port=port, in_use=status is not PortStatus.FREE, status=status)


def _role_names(count: int, roles: Sequence[str] | None) -> list[str]:
    if roles is None:
        return [f"port{i}" for i in range(1, count + 1)]
    names = list(roles)
    if len(names) != count:
        raise ValueError(f"{count} ports need {count} roles, got {len(names)}: {names}")
    if any(not isinstance(n, str) or not n.strip() for n in names):
        raise ValueError(f"roles must be non-empty strings, got {names}")
    if len(set(names)) != len(names):
        raise ValueError(f"roles must be distinct, got {names}")
    return names


def _json_object(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """A detached, JSON-native copy of ``metadata``."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise InvalidMetadataError(f"expected a mapping, got {type(metadata).__name__}")
    try:
        copy: dict[str, Any] = orjson.loads(orjson.dumps(dict(metadata)))
    except TypeError as exc:
        raise InvalidMetadataError(f"not JSON-serialisable ({exc})") from exc
    return copy
