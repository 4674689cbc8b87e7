"""reserve(): record exactly one port, freeing it from a real process first when asked."""

from __future__ import annotations

import socket

import pytest
from helpers import bindable, free_block, free_port
from processes import POLITE, STUBBORN, alive, spawn

from aioports import (
    DenialReason,
    InvalidMetadataError,
    InvalidPortError,
    KillFailedError,
    KillOutcome,
    NoFreePortError,
    PermissionDeniedError,
    PortAlreadyAllocatedError,
    PortInUseError,
    PortManager,
)

BAD_PORTS = [0, -1, 70000, "abc", 3.5, True, None]


async def test_reserves_a_free_port(manager: PortManager) -> None:
    port = free_port()
    reservation = await manager.reserve(port, metadata={"service": "ollama"})
    assert (reservation.port, reservation.was_occupied, reservation.killed) == (port, False, False)
    assert reservation.occupier is None
    (allocation,) = await manager.list_allocations()
    assert allocation == reservation.allocation
    assert (allocation.port, dict(allocation.metadata)) == (port, {"service": "ollama"})
    assert reservation.to_dict()["allocation"]["port"] == port


async def test_a_reserved_port_is_never_allocated(manager: PortManager) -> None:
    port = free_port()
    await manager.reserve(port)
    with pytest.raises(PortAlreadyAllocatedError) as caught:
        await manager.reserve(port)
    assert caught.value.allocation.port == port
    with pytest.raises(NoFreePortError):
        await manager.allocate((port, port))


async def test_a_port_a_server_could_start_on_is_reserved_whatever_connects_from_it(
    manager: PortManager,
) -> None:
    # An outgoing connection from the port (SO_REUSEADDR on both ends): this process "uses"
    # the port, yet a server can listen on it.
    port = free_block(1)
    with socket.socket() as server, socket.socket() as client:
        server.bind(("127.0.0.1", 0))
        server.listen()
        client.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        client.bind(("127.0.0.1", port))
        client.connect(server.getsockname())
        assert not (await manager.probe(port)).in_use
        assert await manager.detect_occupiers(port) != []
        reservation = await manager.reserve(port)
    assert (reservation.port, reservation.was_occupied, reservation.killed) == (port, False, False)


async def test_an_allocated_port_is_refused_before_any_kill(manager: PortManager) -> None:
    with spawn(POLITE) as child:
        await manager.reserve(child.port, kill_if_occupied=True)
    with spawn(POLITE, port=child.port) as again:
        with pytest.raises(PortAlreadyAllocatedError):
            await manager.reserve(again.port, kill_if_occupied=True)
        assert alive(again.pid)


async def test_an_occupied_port_is_refused_with_its_occupier(manager: PortManager) -> None:
    with spawn(POLITE) as child:
        with pytest.raises(PortInUseError) as caught:
            await manager.reserve(child.port)
        assert caught.value.occupier is not None
        assert caught.value.occupier.pid == child.pid
        assert f"PID {child.pid}" in str(caught.value)
        assert alive(child.pid)
    assert await manager.list_allocations() == []


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
async def test_kill_if_occupied_frees_then_records(manager: PortManager, host: str) -> None:
    with spawn(POLITE, host) as child:
        reservation = await manager.reserve(child.port, kill_if_occupied=True)
        assert reservation.was_occupied
        assert reservation.killed
        assert reservation.occupier is not None
        assert reservation.occupier.pid == child.pid
        assert not alive(child.pid)
        assert bindable(child.port)
    assert [a.port for a in await manager.list_allocations()] == [child.port]


async def test_a_failed_kill_records_nothing(manager: PortManager) -> None:
    with spawn(STUBBORN) as child:
        with pytest.raises(KillFailedError) as caught:
            await manager.reserve(child.port, kill_if_occupied=True, timeout=0.2)
        assert alive(child.pid)
    failed = caught.value
    assert isinstance(failed, PortInUseError)
    assert failed.port == child.port
    assert failed.occupier is not None
    assert failed.occupier.pid == child.pid
    assert failed.result.outcome is KillOutcome.SURVIVED
    assert failed.result.pids == (child.pid,)
    assert "did not exit within 0.2 s of SIGTERM" in str(failed)
    assert await manager.list_allocations() == []


async def test_a_refused_kill_records_nothing(manager: PortManager) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        with pytest.raises(PermissionDeniedError, match="this process") as caught:
            await manager.reserve(sock.getsockname()[1], kill_if_occupied=True)
    assert caught.value.reason is DenialReason.PROTECTED_PROCESS
    assert await manager.list_allocations() == []


async def test_force_kills_a_sigterm_ignorer(manager: PortManager) -> None:
    with spawn(STUBBORN) as child:
        reservation = await manager.reserve(child.port, kill_if_occupied=True, force=True)
        assert reservation.killed
        assert bindable(child.port)


@pytest.mark.parametrize("port", BAD_PORTS)
async def test_bad_ports_are_typed_errors(manager: PortManager, port: object) -> None:
    with pytest.raises(InvalidPortError):
        await manager.reserve(port)  # type: ignore[arg-type]
    assert not manager.registry_path.exists()


async def test_bad_metadata_is_a_typed_error(manager: PortManager) -> None:
    with pytest.raises(InvalidMetadataError):
        await manager.reserve(free_port(), metadata={"x": object()})
