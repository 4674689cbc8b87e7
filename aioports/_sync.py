"""A small synchronous facade for scripts, fixtures and benchmarks that have no event loop.

Each call runs the async API in its own ``anyio.run`` (asyncio backend). Called from a task
of a running event loop it would block that loop, so it refuses, naming the async twin.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Awaitable, Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import anyio

from ._lease import Lease
from ._manager import PortManager
from ._models import RangeLike

__all__ = ("allocate_sync", "lease_sync", "release_sync")

T = TypeVar("T")


def allocate_sync(
    range: RangeLike | None = None,
    metadata: Mapping[str, Any] | None = None,
    *,
    owner_pid: int | None = None,
    registry_path: str | os.PathLike[str] | None = None,
) -> int:
    """:meth:`PortManager.allocate` for code without an event loop.

    :param registry_path: as for :class:`PortManager`; default ``$AIOPORTS_REGISTRY``, else
        the user's state folder
    :return: the port
    :raises RuntimeError: when called from inside a running event loop.
    :raises NoFreePortError: when every port of the range is allocated or busy.
    """
    _refuse_inside_a_loop("allocate_sync()", "await PortManager().allocate()")
    manager = PortManager(registry_path)
    return anyio.run(_allocate, manager, range, metadata, owner_pid)


def release_sync(port: int, *, registry_path: str | os.PathLike[str] | None = None) -> bool:
    """:meth:`PortManager.release` for code without an event loop.

    :return: True if the port was allocated.
    :raises RuntimeError: when called from inside a running event loop.
    :raises InvalidPortError: when ``port`` is not a port number.
    """
    _refuse_inside_a_loop("release_sync()", "await PortManager().release(port)")
    return anyio.run(PortManager(registry_path).release, port)


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
    its bound socket) is this process's until the block ends, however it ends.

    :return: a context manager yielding the :class:`Lease`
    :raises RuntimeError: when entered from inside a running event loop.
    :raises NoFreePortError: on entry, when the range has no free port.
    """
    _refuse_inside_a_loop("lease_sync()", "async with PortManager().lease() as lease")
    with _lease_blocking(
        range, metadata, hold=hold, host=host, registry_path=registry_path
    ) as lease:
        yield lease


@contextlib.contextmanager
def _lease_blocking(
    range: RangeLike | None,
    metadata: Mapping[str, Any] | None,
    *,
    hold: bool,
    host: str,
    registry_path: str | os.PathLike[str] | None = None,
) -> Iterator[Lease]:
    """:func:`lease_sync` that also runs under a running event loop, in a helper thread
    with its own loop. It blocks the caller's loop for the few milliseconds of a registry
    update: right for the pytest fixtures, which async tests call, not for servers."""
    manager = PortManager(registry_path)
    lease = _run_blocking(_acquire, manager, range, metadata, hold, host)
    try:
        yield lease
    finally:
        _run_blocking(lease.release)


def _run_blocking(func: Callable[..., Awaitable[T]], *args: Any) -> T:
    try:
        anyio.get_current_task()
    except RuntimeError:
        return anyio.run(func, *args)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="aioports") as pool:
        return pool.submit(anyio.run, func, *args).result()


async def _allocate(
    manager: PortManager,
    range: RangeLike | None,
    metadata: Mapping[str, Any] | None,
    owner_pid: int | None,
) -> int:
    return await manager.allocate(range, metadata, owner_pid=owner_pid)


async def _acquire(
    manager: PortManager,
    range: RangeLike | None,
    metadata: Mapping[str, Any] | None,
    hold: bool,
    host: str,
) -> Lease:
    if hold:
        return await manager.allocate_socket(range, metadata, host=host)
    return await manager._lease(range, metadata, hold=False, host=host)


def _refuse_inside_a_loop(name: str, async_twin: str) -> None:
    try:
        anyio.get_current_task()
    except RuntimeError:
        return  # no event loop here: the one case where the facade may run
    raise RuntimeError(
        f"{name} cannot run inside an event loop (it would block it): use {async_twin}"
    )
