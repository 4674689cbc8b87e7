from __future__ import annotations

import os
import socket
from pathlib import Path

import anyio
import anyio.to_thread
import pytest
from blockbuster import BlockBuster
from helpers import bindable, free_block

import aioports
from aioports import Lease, NoFreePortError, PortManager


def _ports(registry_path: Path) -> list[int]:
    return [a.port for a in anyio.run(PortManager(registry_path).list_allocations)]


def test_allocate_and_release_sync(registry_path: Path) -> None:
    start = free_block(2)
    span = (start, start + 1)
    port = aioports.allocate_sync(span, {"a": 1}, registry_path=registry_path)
    assert port == start
    assert aioports.allocate_sync(span, owner_pid=os.getpid(), registry_path=registry_path) == (
        start + 1
    )
    with pytest.raises(NoFreePortError):
        aioports.allocate_sync(span, registry_path=registry_path)
    assert aioports.release_sync(port, registry_path=registry_path) is True
    assert aioports.release_sync(port, registry_path=registry_path) is False
    assert _ports(registry_path) == [start + 1]


def test_sync_facade_honours_the_registry_environment(
    registry_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = free_block(1)
    monkeypatch.setenv("AIOPORTS_REGISTRY", str(registry_path))
    monkeypatch.setenv("AIOPORTS_RANGE", f"{start}-{start}")
    assert aioports.allocate_sync() == start
    assert _ports(registry_path) == [start]


@pytest.mark.parametrize("hold", [False, True])
def test_lease_sync_releases_even_on_error(registry_path: Path, hold: bool) -> None:
    start = free_block(1)
    seen: list[Lease] = []

    def use_and_fail() -> None:
        with aioports.lease_sync((start, start), hold=hold, registry_path=registry_path) as lease:
            seen.append(lease)
            assert lease.port == start
            assert (lease.socket is not None) is hold
            assert _ports(registry_path) == [start]
            raise KeyError(start)

    with pytest.raises(KeyError):
        use_and_fail()
    assert seen[0].released
    assert _ports(registry_path) == []
    assert bindable(start)


async def test_the_facade_works_inside_a_running_loop(
    registry_path: Path, no_blocking_calls_on_the_loop: BlockBuster
) -> None:
    # It blocks the loop for the milliseconds of a registry update, by design.
    no_blocking_calls_on_the_loop.deactivate()
    start = free_block(2)
    span = (start, start + 1)
    port = aioports.allocate_sync(span, registry_path=registry_path)
    assert port == start
    manager = PortManager(registry_path)
    with aioports.lease_sync(span, hold=True, registry_path=registry_path) as lease:
        assert lease.port == start + 1
        assert lease.socket is not None
        assert [a.port for a in await manager.list_allocations()] == [start, start + 1]
    assert lease.released
    assert aioports.release_sync(port, registry_path=registry_path) is True
    assert await manager.list_allocations() == []


async def test_the_facade_runs_in_a_worker_thread(registry_path: Path) -> None:
    start = free_block(1)
    port = await anyio.to_thread.run_sync(
        lambda: aioports.allocate_sync((start, start), registry_path=registry_path)
    )
    assert port == start


def test_a_failing_sync_call_shows_only_its_own_error(registry_path: Path) -> None:
    # The sync door runs no event loop: nothing (anyio.NoEventLoopError, say) is chained to
    # the error the caller needs to see.
    start = free_block(1)
    with (
        socket.create_server(("127.0.0.1", start)),  # the one port of the range is busy
        pytest.raises(NoFreePortError) as caught,
        aioports.lease_sync((start, start), registry_path=registry_path),
    ):
        pass  # pragma: no cover
    assert caught.value.__context__ is None
    assert caught.value.__cause__ is None
