from __future__ import annotations

import contextlib
import socket
import sys
from collections.abc import Iterator

import anyio
import anyio.lowlevel
import pytest
from helpers import bindable, free_block, upper_free_block
from processes import listener_process
from scan_scenarios import time_wait_reuse

from aioports import (
    InvalidRangeError,
    PortManager,
    PortRange,
    PortStatus,
    ProbeResult,
    ScanResult,
)
from aioports._entries import Entries
from aioports._probe import BindProber
from aioports._scan import BLOCK, MAX_EXPLICIT_LANES, resolve_lanes
from aioports._search import SNAPSHOT_AFTER, find_free_ports
from aioports._steps import drive_async


@contextlib.contextmanager
def held(ports: list[int], *, listen: bool = True) -> Iterator[None]:
    """Hold each of ``ports`` with a loopback socket (listening, or only bound)."""
    with contextlib.ExitStack() as stack:
        for port in ports:
            sock = stack.enter_context(socket.socket())
            sock.bind(("127.0.0.1", port))
            if listen:
                sock.listen()
        yield


async def test_scan_matches_probe_port_by_port(manager: PortManager) -> None:
    start = free_block(32)
    ipv6 = socket.socket(socket.AF_INET6)
    ipv6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    with ipv6, held([start + 1, start + 5]), held([start + 9], listen=False):
        ipv6.bind(("::1", start + 20))
        ipv6.listen()
        result = await manager.scan((start, start + 31))
        probes = [await manager.probe(port) for port in range(start, start + 32)]
    assert [r.port for r in result.in_use] == [start + 1, start + 5, start + 9, start + 20]
    assert list(result.in_use) == [p for p in probes if p.in_use]
    assert result.free == 28
    assert result.range == PortRange(start, start + 31)
    assert result.occupiers is None
    assert all(r.status is PortStatus.IN_USE for r in result.in_use)


async def test_iter_scan_gives_every_port_in_order(manager: PortManager) -> None:
    start = free_block(BLOCK + 10)
    busy = [start, start + BLOCK, start + BLOCK + 9]
    with held(busy):
        results = [r async for r in manager.iter_scan((start, start + BLOCK + 9))]
    assert [r.port for r in results] == list(range(start, start + BLOCK + 10))
    assert [r.port for r in results if r.in_use] == busy
    assert results[1] == ProbeResult(port=start + 1, status=PortStatus.FREE)


async def test_worker_process_share_is_right(manager: PortManager) -> None:
    start = upper_free_block(16)  # in the share the second worker process scans
    busy = [start + 2, start + 3, start + 11]
    with held(busy[:2]), held(busy[2:], listen=False):
        result = await manager.scan((1024, 65535), concurrency=2)
    mine = [r.port for r in result.in_use if start <= r.port < start + 16]
    assert mine == busy
    assert result.free + len(result.in_use) == 65535 - 1024 + 1
    for port in range(start, start + 16):
        if port not in busy:
            assert bindable(port)


@pytest.mark.parametrize("executable", ["/nonexistent/python", "/bin/false"])
async def test_a_failed_worker_leaves_its_share_to_the_loop(
    manager: PortManager, monkeypatch: pytest.MonkeyPatch, executable: str
) -> None:
    start = free_block(8)
    monkeypatch.setattr(sys, "executable", executable)
    with held([start + 6]):
        result = await manager.scan((start, start + 7), concurrency=2)
    assert [r.port for r in result.in_use] == [start + 6]
    assert result.free == 7


@pytest.mark.parametrize("concurrency", [1, 2])
async def test_event_loop_keeps_running_during_a_scan(
    manager: PortManager, concurrency: int
) -> None:
    ticks = 0
    done = False

    async def ticker() -> None:
        nonlocal ticks
        while not done:
            await anyio.sleep(0)  # noqa: ASYNC115 - what the issue names
            ticks += 1

    ports = 16 * BLOCK
    start = 65535 - ports + 1
    async with anyio.create_task_group() as tg:
        tg.start_soon(ticker)
        await anyio.lowlevel.checkpoint()
        await manager.scan((start, 65535), concurrency=concurrency)
        done = True
    # The scan hands control back after every block of ports it probes in this process.
    assert ticks >= ports // concurrency // BLOCK - 1


async def test_with_occupiers_names_the_holder(manager: PortManager) -> None:
    with listener_process("127.0.0.1") as (pid, port):
        result = await manager.scan((port, port), with_occupiers=True)
    assert result.occupiers is not None
    (holder,) = result.holders(port)
    assert holder.pid == pid
    assert holder.process_name
    assert holder.status == "LISTEN"
    assert holder.addresses == ("127.0.0.1",)
    entry = result.to_dict()["in_use"][0]
    assert entry["occupiers"][0]["pid"] == pid


async def test_to_dict(manager: PortManager) -> None:
    start = free_block(4)
    with held([start]):
        result = await manager.scan(f"{start}-{start + 3}")
    document = result.to_dict()
    assert document["range"] == {"start": start, "end": start + 3}
    assert document["in_use"] == [{"port": start, "in_use": True, "status": "in_use"}]
    assert document["free"] == 3
    assert isinstance(document["elapsed"], float)
    assert result.holders(start) == ()


async def test_default_range_is_the_managers(manager: PortManager) -> None:
    start = free_block(4)
    manager.set_range((start, start + 3))
    assert (await manager.scan()).range == PortRange(start, start + 3)
    assert len([r async for r in manager.iter_scan()]) == 4


@pytest.mark.parametrize("concurrency", [0, -1, 1.5, True, "2"])
async def test_bad_concurrency(manager: PortManager, concurrency: object) -> None:
    with pytest.raises(ValueError, match="concurrency"):
        await manager.scan((5000, 5001), concurrency=concurrency)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["abc", (0, 10), (10, 5), (1, 70000)])
async def test_bad_range(manager: PortManager, value: object) -> None:
    with pytest.raises(InvalidRangeError):
        await manager.scan(value)  # type: ignore[arg-type]
    with pytest.raises(InvalidRangeError):
        async for _ in manager.iter_scan(value):  # type: ignore[arg-type]
            pass


class CountingProber(BindProber):
    """A real prober that counts its probes."""

    __slots__ = ("probes",)

    def __init__(self) -> None:
        super().__init__()
        self.probes = 0

    def status(self, port: int) -> PortStatus:
        self.probes += 1
        return super().status(port)


async def test_search_in_a_crowded_range_skips_listeners() -> None:
    size = 120
    start = free_block(size)
    busy = list(range(start, start + size - 10))
    prober = CountingProber()
    with held(busy):
        ports = await drive_async(
            find_free_ports(prober, PortRange(start, start + size - 1), 1, Entries())
        )
    assert ports == [start + size - 10]
    # SNAPSHOT_AFTER probes before the table read, then one for the port handed out (instead
    # of one per busy port).
    assert SNAPSHOT_AFTER <= 40
    assert prober.probes <= 41


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="netlink and /proc are Linux")
def test_the_netlink_snapshot_agrees_with_proc() -> None:
    """The search's snapshot of listeners (a sock_diag dump) lists what /proc/net/tcp* list:
    listeners on IPv4 and IPv6, and no socket that is bound without listening."""
    import socket

    from aioports._listeners import _TABLES, parse_listeners
    from aioports._sockets import netlink_listening_ports

    start = free_block(3)
    with contextlib.ExitStack() as stack:
        for port, family, host in ((start, socket.AF_INET, "127.0.0.1"),
                                   (start + 1, socket.AF_INET6, "::1")):  # fmt: skip
            sock = stack.enter_context(socket.socket(family))
            sock.bind((host, port))
            sock.listen()
        bound = stack.enter_context(socket.socket())
        bound.bind(("127.0.0.1", start + 2))
        snapshot = netlink_listening_ports()
        from_proc = set().union(*(parse_listeners(t.read_text()) for t in _TABLES))
    assert {start, start + 1} <= snapshot
    assert start + 2 not in snapshot
    ours = set(range(start, start + 3))
    assert snapshot & ours == from_proc & ours


async def test_search_does_not_skip_reusable_time_wait_ports() -> None:
    start = free_block(60)
    with time_wait_reuse(start + 50), held(list(range(start, start + 50))):
        ports = await drive_async(
            find_free_ports(CountingProber(), PortRange(start, start + 59), 1, Entries())
        )
    assert ports == [start + 50]


async def test_search_still_probes_sockets_the_table_does_not_list() -> None:
    start = free_block(100)
    prober = CountingProber()
    with held(list(range(start, start + 60))), held([start + 60, start + 61], listen=False):
        ports = await drive_async(
            find_free_ports(prober, PortRange(start, start + 99), 2, Entries())
        )
    assert ports == [start + 62, start + 63]


async def test_allocate_in_a_crowded_range(manager: PortManager) -> None:
    start = free_block(80)
    with held(list(range(start, start + 70))):
        assert await manager.allocate((start, start + 79)) == start + 70
        group = await manager.allocate_group(3, range=(start, start + 79))
    assert list(group.ports.values()) == [start + 71, start + 72, start + 73]


def test_scan_result_is_frozen() -> None:
    result = ScanResult(range=PortRange(1, 2), in_use=(), free=2)
    with pytest.raises(AttributeError):
        result.free = 3  # type: ignore[misc]


def test_explicit_concurrency_is_capped() -> None:
    assert resolve_lanes(PortRange(5000, 5199), 200) == MAX_EXPLICIT_LANES
    assert resolve_lanes(PortRange(5000, 5002), 8) == 3
    assert resolve_lanes(PortRange(5000, 5199), 2) == 2
