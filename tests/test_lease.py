from __future__ import annotations

import os
import signal
import socket
import textwrap
from pathlib import Path

import anyio
import forked
import pytest
from helpers import bindable, free_block
from processes import reap, registry_locked_elsewhere

from aioports import Lease, NoFreePortError, PortManager, RegistryLockTimeoutError


async def test_lease_is_owner_bound_and_released_on_exit(manager: PortManager) -> None:
    start = free_block(3)
    async with manager.lease((start, start + 2), {"service": "api"}) as lease:
        assert isinstance(lease, Lease)
        assert lease.port == start
        [allocation] = await manager.list_allocations()
        assert allocation.port == start
        assert allocation.owner_pid == os.getpid()
        assert dict(allocation.metadata) == {"service": "api"}
        assert lease.socket is None
        assert not lease.released
    assert lease.released
    assert await manager.list_allocations() == []
    assert await lease.release() is False  # idempotent


async def test_lease_is_released_when_the_block_raises(manager: PortManager) -> None:
    start = free_block(1)
    with pytest.raises(LookupError):
        async with manager.lease((start, start)):
            raise LookupError("boom")
    assert await manager.list_allocations() == []


async def test_lease_is_released_when_the_task_is_cancelled(manager: PortManager) -> None:
    start = free_block(1)
    with anyio.move_on_after(0.2) as scope:
        async with manager.lease((start, start)):
            await anyio.sleep(30)
    assert scope.cancelled_caught
    assert await manager.list_allocations() == []


async def test_release_leaves_another_owners_allocation_alone(manager: PortManager) -> None:
    start = free_block(1)
    async with manager.lease((start, start)) as lease:
        await manager.cleanup()
        assert await manager.allocate((start, start), {"who": "other"}) == start
    assert lease.released
    [allocation] = await manager.list_allocations()
    assert dict(allocation.metadata) == {"who": "other"}


async def test_allocate_socket_holds_the_port_exclusively(manager: PortManager) -> None:
    start = free_block(2)
    async with await manager.allocate_socket((start, start + 1)) as lease:
        sock = lease.socket
        assert sock is not None
        assert sock.family == socket.AF_INET
        assert sock.getsockname() == ("127.0.0.1", lease.port)
        # Bound, not listening: nobody can connect yet.
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", lease.port), timeout=5).close()
        # A typical server (SO_REUSEADDR, wildcard) cannot take the port meanwhile.
        assert not bindable(lease.port)
        assert (await manager.probe(lease.port)).in_use
        # Another aioports user is handed the next port.
        assert await manager.allocate((start, start + 1)) == start + 1
    assert sock.fileno() == -1
    assert lease.socket is None
    assert [a.port for a in await manager.list_allocations()] == [start + 1]


async def test_allocate_socket_skips_a_port_it_cannot_bind(manager: PortManager) -> None:
    start = free_block(2)
    # Bound with SO_REUSEADDR and idle: probes (which use SO_REUSEADDR) find the port free,
    # but an exclusive bind fails, so the claim hook has to move on.
    with socket.socket() as idle:
        idle.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        idle.bind(("127.0.0.1", start))
        assert not (await manager.probe(start)).in_use
        async with await manager.allocate_socket((start, start + 1)) as lease:
            assert lease.port == start + 1
        with pytest.raises(NoFreePortError):
            await manager.allocate_socket((start, start))
    assert await manager.list_allocations() == []


async def test_held_ipv6_socket(manager: PortManager) -> None:
    start = free_block(1)
    async with manager.lease((start, start), hold=True, host="::1") as lease:
        assert lease.socket is not None
        assert lease.socket.family == socket.AF_INET6
        assert lease.socket.getsockname()[:2] == ("::1", start)


@pytest.mark.parametrize("host", ["localhost", "", "300.1.1.1"])
async def test_bad_host_is_rejected_and_nothing_recorded(manager: PortManager, host: str) -> None:
    with pytest.raises(ValueError, match="IP address"):
        await manager.allocate_socket((3000, 3999), host=host)
    assert await manager.list_allocations() == []


async def test_lease_is_async_only(manager: PortManager) -> None:
    start = free_block(1)
    lease = await manager.allocate_socket((start, start))
    with pytest.raises(TypeError, match="async with"), lease:
        pass  # pragma: no cover
    assert "socket held" in repr(lease)
    await lease.release()
    assert "released" in repr(lease)


async def test_close_socket_keeps_the_allocation(manager: PortManager) -> None:
    start = free_block(1)
    async with manager.lease((start, start), hold=True) as lease:
        lease.close_socket()
        lease.close_socket()
        assert lease.socket is None
        assert bindable(start)
        assert [a.port for a in await manager.list_allocations()] == [start]


OWNER = textwrap.dedent(
    """
    import sys, time, anyio
    from aioports import PortManager

    async def main():
        pm = PortManager(sys.argv[1])
        async with pm.lease((int(sys.argv[2]), int(sys.argv[2])), hold=sys.argv[3] == "1") as lease:
            print(lease.port, flush=True)
            await anyio.sleep(600)

    anyio.run(main)
    """
)


@pytest.mark.parametrize("hold", [False, True])
async def test_a_killed_lease_owner_gives_the_port_back(
    manager: PortManager, registry_path: Path, hold: bool
) -> None:
    start = free_block(1)
    proc = forked.start(OWNER, str(registry_path), str(start), "1" if hold else "0")
    try:
        assert proc.stdout is not None
        assert int(proc.stdout.readline()) == start
        with pytest.raises(NoFreePortError):
            await manager.allocate((start, start))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        reap(proc)
    assert await manager.allocate((start, start)) == start


def _closed_by_the_server_first(listening: socket.socket) -> None:
    """One connection that the server side closes first: TIME_WAIT lands on the server port."""
    port = listening.getsockname()[1]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        conn, _ = listening.accept()
        conn.close()
        assert client.recv(1) == b""
    listening.close()


def _reuse_bind(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.mark.parametrize(
    ("how", "spared"), [("lease.listen", True), ("socket.listen", True), ("rebuilt", False)]
)
async def test_listen_spares_the_next_server_the_time_wait(
    manager: PortManager, how: str, spared: bool
) -> None:
    start = free_block(1)
    async with manager.lease((start, start), hold=True) as lease:
        assert lease.socket is not None
        if how == "lease.listen":
            assert lease.listen() is lease.socket
            listening = lease.socket
        elif how == "socket.listen":
            lease.socket.listen()  # the held socket's own listen() sets SO_REUSEADDR too
            listening = lease.socket
        else:  # a plain copy from the fd (what another process gets) listens without it
            listening = socket.socket(fileno=lease.socket.detach())
            listening.listen()
        _closed_by_the_server_first(listening)
    # A listener without SO_REUSEADDR leaves TIME_WAIT that bars SO_REUSEADDR servers.
    assert _reuse_bind(start) is spared


async def test_listen_needs_a_held_socket(manager: PortManager) -> None:
    start = free_block(1)
    async with manager.lease((start, start)) as lease:
        with pytest.raises(RuntimeError, match="holds no socket"):
            lease.listen()


async def test_a_failed_release_can_be_retried(registry_path: Path) -> None:
    start = free_block(1)
    manager = PortManager(registry_path, lock_timeout=0.2, poll_interval=0.01)
    lease = await manager.allocate_socket((start, start))
    with registry_locked_elsewhere(registry_path), pytest.raises(RegistryLockTimeoutError):
        await lease.release()
    assert [a.port for a in await manager.list_allocations()] == [start]
    assert await lease.release() is True
    assert lease.released
    assert await manager.list_allocations() == []
