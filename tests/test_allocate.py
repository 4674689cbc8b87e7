from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from helpers import bindable, free_block
from processes import listener_process, reap

from aioports import (
    InvalidMetadataError,
    InvalidPortError,
    InvalidRangeError,
    NoFreePortError,
    PortManager,
    PortRange,
    ProcessGoneError,
)


async def test_allocate_returns_the_lowest_free_port(manager: PortManager) -> None:
    start = free_block(5)
    port = await manager.allocate((start, start + 4))
    assert port == start
    assert bindable(port)


async def test_consecutive_allocations_are_distinct_and_ascending(manager: PortManager) -> None:
    start = free_block(5)
    ports = [await manager.allocate((start, start + 4)) for _ in range(5)]
    assert ports == list(range(start, start + 5))
    with pytest.raises(NoFreePortError) as info:
        await manager.allocate((start, start + 4))
    assert info.value.allocated == 5
    assert info.value.busy == 0
    assert info.value.range == PortRange(start, start + 4)


async def test_allocate_skips_a_busy_port(manager: PortManager) -> None:
    start = free_block(3)
    with socket.socket() as busy:
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        busy.bind(("127.0.0.1", start))
        busy.listen()
        assert await manager.allocate((start, start + 2)) == start + 1


async def test_allocate_skips_an_ipv6_only_listener(manager: PortManager) -> None:
    start = free_block(2)
    with listener_process("::1", start):
        assert await manager.allocate((start, start + 1)) == start + 1


async def test_no_free_port_counts_busy_and_allocated(manager: PortManager) -> None:
    start = free_block(2)
    await manager.allocate((start, start))
    with listener_process("127.0.0.1", start + 1), pytest.raises(NoFreePortError) as info:
        await manager.allocate((start, start + 1))
    message = str(info.value)
    assert f"{start}-{start + 1}" in message
    assert "1 allocated in the registry, 1 busy" in message


async def test_allocate_uses_the_default_range(registry_path: Path) -> None:
    start = free_block(3)
    manager = PortManager(registry_path, range=(start, start + 2))
    assert await manager.allocate() == start
    manager.set_range((start + 2, start + 2))
    assert await manager.allocate() == start + 2


async def test_metadata_and_owner_fields_are_recorded(manager: PortManager) -> None:
    start = free_block(1)
    before = datetime.now(UTC)
    port = await manager.allocate((start, start), {"project": "my-app", "service": "api"})
    [allocation] = await manager.list_allocations()
    assert allocation.port == port
    assert allocation.metadata == {"project": "my-app", "service": "api"}
    assert allocation.pid == os.getpid()
    assert allocation.hostname == socket.gethostname()
    assert allocation.owner_pid is None
    assert before - timedelta(seconds=1) <= allocation.allocated_at <= datetime.now(UTC)
    assert allocation.allocated_at.tzinfo is not None


async def test_metadata_is_copied(manager: PortManager) -> None:
    start = free_block(1)
    metadata: dict[str, Any] = {"tags": ["a"]}
    await manager.allocate((start, start), metadata)
    metadata["tags"].append("b")
    [allocation] = await manager.list_allocations()
    assert allocation.metadata == {"tags": ["a"]}


@pytest.mark.parametrize(
    "metadata", [{"x": object()}, {1: "int key"}, ["not", "a", "mapping"], "text", {"s": {1, 2}}]
)
async def test_bad_metadata_is_rejected_and_nothing_recorded(
    manager: PortManager, metadata: Any
) -> None:
    start = free_block(1)
    with pytest.raises(InvalidMetadataError):
        await manager.allocate((start, start), metadata)
    assert await manager.list_allocations() == []


@pytest.mark.parametrize("bad", [(5000, 4000), (0, 10), (1, 70000), "abc", "", 3000])
async def test_bad_ranges_are_rejected(manager: PortManager, bad: Any) -> None:
    with pytest.raises(InvalidRangeError):
        await manager.allocate(bad)


async def test_release(manager: PortManager) -> None:
    start = free_block(2)
    port = await manager.allocate((start, start + 1))
    assert await manager.release(port) is True
    assert await manager.release(port) is False
    assert await manager.list_allocations() == []
    assert await manager.allocate((start, start + 1)) == port


@pytest.mark.parametrize("value", [0, -1, 65536, 70000, "abc", 3.5, True, None])
async def test_release_rejects_bad_ports(manager: PortManager, value: Any) -> None:
    with pytest.raises(InvalidPortError):
        await manager.release(value)


async def test_list_allocations_is_sorted_and_cleanup_empties(manager: PortManager) -> None:
    start = free_block(3)
    for _ in range(3):
        await manager.allocate((start, start + 2), {"n": 1})
    await manager.release(start + 1)
    assert [a.port for a in await manager.list_allocations()] == [start, start + 2]
    result = await manager.cleanup()
    assert (result.cleaned, result.released) == (True, 2)
    assert await manager.list_allocations() == []
    assert (await manager.cleanup()).released == 0


async def test_a_long_list_comes_back_whole_and_sorted(manager: PortManager) -> None:
    start = free_block(300)
    group = await manager.allocate_group(300, range=(start, start + 299))
    listed = await manager.list_allocations()
    assert [a.port for a in listed] == list(range(start, start + 300))
    assert {a.group for a in listed} == {group.group_id}


async def test_two_managers_share_one_registry(registry_path: Path) -> None:
    start = free_block(2)
    first, second = PortManager(registry_path), PortManager(registry_path)
    assert await first.allocate((start, start + 1)) == start
    assert await second.allocate((start, start + 1)) == start + 1
    assert [a.port for a in await first.list_allocations()] == [start, start + 1]


async def test_group_is_contiguous_and_released_together(manager: PortManager) -> None:
    start = free_block(6)
    await manager.allocate((start, start))
    group = await manager.allocate_group(
        3, roles=["frontend", "backend", "test"], range=(start, start + 5), metadata={"app": "m"}
    )
    assert group.ports == {"frontend": start + 1, "backend": start + 2, "test": start + 3}
    listed = {a.port: a for a in await manager.list_allocations()}
    assert {listed[p].group for p in group.ports.values()} == {group.group_id}
    assert listed[start + 2].role == "backend"
    assert listed[start + 2].metadata == {"app": "m"}
    assert await manager.release_group(group.group_id) == [start + 1, start + 2, start + 3]
    assert [a.port for a in await manager.list_allocations()] == [start]
    assert await manager.release_group(group.group_id) == []


@pytest.mark.parametrize("group_id", [None, "", 5])
async def test_release_group_needs_a_group_id(manager: PortManager, group_id: Any) -> None:
    start = free_block(2)
    await manager.allocate((start, start + 1))
    with pytest.raises(ValueError, match="group id"):
        await manager.release_group(group_id)
    assert [a.port for a in await manager.list_allocations()] == [start]


async def test_group_falls_back_to_scattered_ports(manager: PortManager) -> None:
    start = free_block(5)
    await manager.allocate((start + 1, start + 1))
    await manager.allocate((start + 3, start + 3))
    group = await manager.allocate_group(3, range=(start, start + 4))
    assert group.ports == {"port1": start, "port2": start + 2, "port3": start + 4}


async def test_group_larger_than_its_range_is_a_bad_argument(manager: PortManager) -> None:
    with pytest.raises(ValueError, match="5 ports cannot fit in range 6000-6003, which has 4"):
        await manager.allocate_group(5, range=(6000, 6003))
    assert await manager.list_allocations() == []


async def test_group_is_all_or_nothing(manager: PortManager) -> None:
    start = free_block(3)
    await manager.allocate((start, start))
    with pytest.raises(NoFreePortError, match="3 free ports"):
        await manager.allocate_group(3, range=(start, start + 2))
    assert [a.port for a in await manager.list_allocations()] == [start]


@pytest.mark.parametrize(
    ("count", "roles"), [(0, None), (-1, None), (True, None), (2, ["a"]), (2, ["a", "a"]),
                         (1, [""]), (10**8, None)],
)  # fmt: skip
async def test_bad_groups(manager: PortManager, count: Any, roles: Any) -> None:
    with pytest.raises(ValueError, match=r"group|roles"):
        await manager.allocate_group(count, roles=roles, range=(3000, 3999))


async def test_owner_death_releases_the_port(manager: PortManager) -> None:
    start = free_block(1)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], text=True)
    try:
        port = await manager.allocate((start, start), owner_pid=child.pid)
        [allocation] = await manager.list_allocations()
        assert allocation.owner_pid == child.pid
        assert allocation.owner_create_time is not None
        with pytest.raises(NoFreePortError):
            await manager.allocate((start, start))
    finally:
        reap(child)  # SIGKILL, as a crash would
    assert await manager.list_allocations() == []
    assert await manager.allocate((start, start)) == port


async def test_recycled_owner_pid_does_not_keep_the_port(
    manager: PortManager, registry_path: Path
) -> None:
    start = free_block(1)
    await manager.allocate((start, start), owner_pid=os.getpid())
    # Same PID, started at another moment: what a recycled PID looks like.
    document = orjson.loads(registry_path.read_bytes())
    entry = document["leases"][str(start)]
    entry["owner_create_time"] -= 1000.0
    if entry["owner_token"] is not None:
        boot, ticks = entry["owner_token"].rsplit(":", 1)
        entry["owner_token"] = f"{boot}:{int(ticks) + 1}"
    registry_path.write_bytes(orjson.dumps(document))
    assert await manager.list_allocations() == []


@pytest.mark.skipif(sys.platform != "linux", reason="start tokens exist on Linux")
async def test_a_stepped_clock_does_not_release_a_live_owner(
    manager: PortManager, registry_path: Path
) -> None:
    start = free_block(1)
    await manager.allocate((start, start), owner_pid=os.getpid())
    [allocation] = await manager.list_allocations()
    assert allocation.owner_token is not None
    assert allocation.owner_token.startswith("linux:")
    # The wall clock moved by an hour since: psutil's create_time moves with it.
    document = orjson.loads(registry_path.read_bytes())
    document["leases"][str(start)]["owner_create_time"] += 3600.0
    registry_path.write_bytes(orjson.dumps(document))
    assert [a.port for a in await manager.list_allocations()] == [start]
    with pytest.raises(NoFreePortError):
        await manager.allocate((start, start))


async def test_an_owner_from_another_boot_is_gone(
    manager: PortManager, registry_path: Path
) -> None:
    start = free_block(1)
    await manager.allocate((start, start), owner_pid=os.getpid())
    document = orjson.loads(registry_path.read_bytes())
    entry = document["leases"][str(start)]
    if entry["owner_token"] is None:
        pytest.skip("no start tokens on this platform")
    entry["owner_token"] = (
        "linux:00000000-0000-0000-0000-000000000000:" + entry["owner_token"].rsplit(":", 1)[1]
    )
    registry_path.write_bytes(orjson.dumps(document))
    assert await manager.list_allocations() == []


async def test_foreign_host_owner_is_kept(manager: PortManager, registry_path: Path) -> None:
    start = free_block(1)
    await manager.allocate((start, start), owner_pid=os.getpid())
    document = orjson.loads(registry_path.read_bytes())
    entry = document["leases"][str(start)]
    entry["hostname"] = "another-host"
    entry["owner_pid"] = 999_999_999
    registry_path.write_bytes(orjson.dumps(document))
    assert [a.port for a in await manager.list_allocations()] == [start]


async def test_owner_must_exist(manager: PortManager) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    with pytest.raises(ProcessGoneError):
        await manager.allocate((3000, 3999), owner_pid=child.pid)
    with pytest.raises(ValueError, match="owner_pid"):
        await manager.allocate((3000, 3999), owner_pid=0)


async def test_async_context_manager_only(manager: PortManager) -> None:
    async with manager as entered:
        assert entered is manager
    with pytest.raises(TypeError, match="async with"), manager:
        pass
    assert "registry.json" in repr(manager)
