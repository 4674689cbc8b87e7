from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path

import forked
import orjson
import pytest
from helpers import free_block
from processes import registry_locked_elsewhere

import aioports
from aioports import (
    PortManager,
    RegistryCorruptError,
    RegistryError,
    RegistryLockTimeoutError,
)

CORRUPT: dict[str, bytes] = {
    "empty": b"",
    "whitespace": b"  \n",
    "not JSON": b"{this is not json",
    "truncated": b'{"version": 1, "leases": {"3000": {"port": 30',
    "a list": b"[1, 2, 3]",
    "foreign object": b'{"name": "some other tool"}',
    "newer schema": b'{"version": 3, "leases": {}}',
    "bad version": b'{"version": "1", "leases": {}}',
    "leases not an object": b'{"version": 1, "leases": []}',
    "entry not an object": b'{"version": 1, "leases": {"3000": 5}}',
    "key and port differ": b'{"version": 1, "leases": {"3000": {"port": 3001, '
    b'"allocated_at": "2026-01-01T00:00:00+00:00"}}}',
    "port out of range": b'{"version": 1, "leases": {"70000": {"port": 70000, '
    b'"allocated_at": "2026-01-01T00:00:00+00:00"}}}',
    "bad date": b'{"version": 1, "leases": {"3000": {"port": 3000, "allocated_at": "soon"}}}',
    "unknown field": b'{"version": 1, "leases": {"3000": {"port": 3000, '
    b'"allocated_at": "2026-01-01T00:00:00+00:00", "color": "red"}}}',
    "wrong type": b'{"version": 1, "leases": {"3000": {"port": 3000, '
    b'"allocated_at": "2026-01-01T00:00:00+00:00", "pid": "x"}}}',
    "binary": bytes(range(256)),
}


@pytest.mark.parametrize("content", CORRUPT.values(), ids=CORRUPT.keys())
async def test_unusable_registry_is_reported_and_never_overwritten(
    manager: PortManager, registry_path: Path, content: bytes
) -> None:
    registry_path.parent.mkdir(parents=True)
    registry_path.write_bytes(content)
    for call in (
        manager.allocate((3000, 3999)),
        manager.release(3000),
        manager.list_allocations(),
        manager.cleanup(),
    ):
        with pytest.raises(RegistryCorruptError) as info:
            await call
        assert info.value.path == registry_path
        assert str(registry_path) in str(info.value)
        assert ("upgrade aioports" if info.value.newer else "aioports repair") in str(info.value)
    assert registry_path.read_bytes() == content


async def test_newer_schema_says_upgrade(manager: PortManager, registry_path: Path) -> None:
    registry_path.parent.mkdir(parents=True)
    registry_path.write_bytes(b'{"version": 7, "leases": {}}')
    with pytest.raises(RegistryCorruptError, match="newer aioports") as info:
        await manager.list_allocations()
    assert info.value.newer
    assert "upgrade aioports" in str(info.value)
    assert "run 'aioports repair'" not in str(info.value)


async def test_repair_moves_the_bad_file_aside(manager: PortManager, registry_path: Path) -> None:
    registry_path.parent.mkdir(parents=True)
    registry_path.write_bytes(b"garbage")
    result = await manager.repair()
    assert result.repaired
    assert result.reason is not None
    assert "not valid JSON" in result.reason
    assert result.backup_path is not None
    backup = Path(result.backup_path)
    assert backup.parent == registry_path.parent
    assert backup.name.startswith("registry.json.corrupt-")
    assert backup.read_bytes() == b"garbage"
    assert await manager.list_allocations() == []
    start = free_block(1)
    assert await manager.allocate((start, start)) == start
    # A second repair of a broken file on the same second keeps both backups.
    registry_path.write_bytes(b"again")
    second = await manager.repair()
    assert second.backup_path is not None
    assert second.backup_path != result.backup_path
    assert Path(second.backup_path).read_bytes() == b"again"


async def test_repair_leaves_a_healthy_registry_alone(
    manager: PortManager, registry_path: Path
) -> None:
    assert not (await manager.repair()).repaired
    start = free_block(1)
    await manager.allocate((start, start))
    before = registry_path.read_bytes()
    result = await manager.repair()
    assert not result.repaired
    assert result.backup_path is None
    assert registry_path.read_bytes() == before


async def test_file_format(manager: PortManager, registry_path: Path) -> None:
    start = free_block(2)
    await manager.allocate((start + 1, start + 1), {"app": "b"})
    await manager.allocate((start, start), {"app": "a"})
    document = orjson.loads(registry_path.read_bytes())
    assert document["version"] == 2
    assert list(document["leases"]) == [str(start), str(start + 1)]
    entry = document["leases"][str(start)]
    assert entry["port"] == start
    assert entry["metadata"] == {"app": "a"}
    assert (entry["app"], entry["worktree"], entry["service"]) == (None, None, None)
    assert entry["pid"] == os.getpid()
    assert entry["allocated_at"].endswith("+00:00")
    assert registry_path.stat().st_mode & 0o777 == 0o600


async def test_missing_folders_are_created(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "c" / "registry.json"
    manager = PortManager(path)
    assert await manager.list_allocations() == []
    start = free_block(1)
    await manager.allocate((start, start))
    assert path.exists()


async def test_a_folder_where_the_file_should_be(manager: PortManager, registry_path: Path) -> None:
    registry_path.mkdir(parents=True)
    (registry_path / "inside").write_bytes(b"kept")
    with pytest.raises(RegistryError):
        await manager.list_allocations()
    with pytest.raises(RegistryError, match=r"not an aioports registry.*--force"):
        await manager.repair()  # a folder is never moved without being asked
    assert (registry_path / "inside").read_bytes() == b"kept"
    result = await manager.repair(force=True)
    assert result.repaired
    assert result.backup_path is not None
    assert (Path(result.backup_path) / "inside").read_bytes() == b"kept"
    assert await manager.list_allocations() == []


async def test_stray_temp_files_are_removed(manager: PortManager, registry_path: Path) -> None:
    registry_path.parent.mkdir(parents=True)
    stray = [registry_path.parent / f".registry.json.{n}-deadbeef.tmp" for n in range(3)]
    # Another registry in the same folder, its name starting like ours: never touched.
    neighbour = registry_path.parent / ".registry.json.b.json.7-deadbeef.tmp"
    neighbour.write_bytes(b"in flight")
    for path in stray:
        path.write_bytes(b'{"version": 1, "lea')
    other = registry_path.parent / "unrelated.tmp"
    other.write_bytes(b"keep me")
    start = free_block(1)
    await manager.allocate((start, start))
    assert not any(path.exists() for path in stray)
    assert other.read_bytes() == b"keep me"
    assert neighbour.read_bytes() == b"in flight"


async def test_lock_timeout_when_another_process_holds_it(registry_path: Path) -> None:
    with registry_locked_elsewhere(registry_path):
        manager = PortManager(registry_path, lock_timeout=0.3, poll_interval=0.02)
        with pytest.raises(RegistryLockTimeoutError) as info:
            await manager.list_allocations()
        assert info.value.timeout == 0.3
        assert info.value.path == registry_path
    # The holder is gone, so is its lock.
    assert await PortManager(registry_path, lock_timeout=5).list_allocations() == []


async def test_waiter_gets_the_lock_when_it_is_released(registry_path: Path) -> None:
    start = free_block(1)
    began = time.monotonic()
    with registry_locked_elsewhere(registry_path, seconds=0.3):
        port = await PortManager(registry_path, lock_timeout=10).allocate((start, start))
        # The holder slept its 0.3 s and exited before the allocation could go through.
        assert time.monotonic() - began >= 0.3
    assert port == start


async def test_lock_file_is_never_a_followed_symlink(
    manager: PortManager, registry_path: Path, tmp_path: Path
) -> None:
    registry_path.parent.mkdir(parents=True)
    target = tmp_path / "elsewhere"
    registry_path.with_name("registry.json.lock").symlink_to(target)
    with pytest.raises(RegistryError, match="symbolic link"):
        await manager.list_allocations()
    assert not target.exists()


def test_flock_is_what_other_processes_see(registry_path: Path) -> None:
    """The sidecar lock is a plain flock, so shell tools (flock(1)) can join in."""
    registry_path.parent.mkdir(parents=True)
    lock_path = registry_path.with_name("registry.json.lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        code = (
            "import anyio, sys; from aioports import PortManager, RegistryLockTimeoutError\n"
            "async def m():\n"
            "    try:\n"
            "        await PortManager(sys.argv[1], lock_timeout=0.2).list_allocations()\n"
            "    except RegistryLockTimeoutError:\n"
            "        print('timeout')\n"
            "anyio.run(m)\n"
        )
        assert forked.run(code, str(registry_path)).strip() == "timeout"
    finally:
        os.close(fd)


def _entry(port: int, **fields: object) -> dict[str, object]:
    return {"port": port, "allocated_at": "2026-01-01T00:00:00+00:00", **fields}


def _deep(levels: int) -> object:
    value: object = {}
    for _ in range(levels):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ({"owner_pid": -5, "owner_create_time": 1.0}, "owner_pid"),
        ({"pid": -1}, "pid"),
        ({"owner_pid": 5, "owner_create_time": -1.0}, "owner_create_time"),
        ({"metadata": _deep(300)}, "metadata"),
    ],
    ids=["owner_pid -5", "pid -1", "start time -1", "metadata 300 deep"],
)
async def test_repair_keeps_the_valid_entries_and_sets_aside_the_bad_ones(
    manager: PortManager, registry_path: Path, bad: dict[str, object], problem: str
) -> None:
    start = free_block(3)
    good = [_entry(start, metadata={"app": "a"}), _entry(start + 2)]
    document = {
        "version": 1,
        "leases": {str(e["port"]): e for e in (good[0], _entry(start + 1, **bad), good[1])},
    }
    content = json.dumps(document).encode()  # orjson refuses to write 300 levels at all
    registry_path.parent.mkdir(parents=True)
    registry_path.write_bytes(content)
    # Unusable to every call (never half-used), and never called healthy ...
    with pytest.raises(RegistryCorruptError, match=problem):
        await manager.list_allocations()
    result = await manager.repair()
    assert result.repaired
    assert result.dropped == (str(start + 1),)
    assert result.kept == 2
    assert result.reason is not None
    assert problem in result.reason
    # ... the backup holds the file as it was, and the valid entries live on.
    assert result.backup_path is not None
    assert Path(result.backup_path).read_bytes() == content
    listed = await manager.list_allocations()
    assert [a.port for a in listed] == [start, start + 2]
    assert listed[0].metadata == {"app": "a"}
    assert not (await manager.repair()).repaired


@pytest.mark.parametrize(
    "content",
    [b'{"name": "my-app", "version": "1.0.0"}', b"[1, 2, 3]"],
    ids=["package.json", "a JSON list"],
)
async def test_repair_refuses_another_programs_json_file_unless_forced(
    manager: PortManager, registry_path: Path, content: bytes
) -> None:
    registry_path.parent.mkdir(parents=True)
    registry_path.write_bytes(content)
    with pytest.raises(RegistryError, match=r"not an aioports registry.*--force"):
        await manager.repair()
    assert registry_path.read_bytes() == content
    result = await manager.repair(force=True)
    assert result.repaired
    assert result.backup_path is not None
    assert Path(result.backup_path).read_bytes() == content
    assert await manager.list_allocations() == []


async def test_metadata_too_deep_to_write_is_refused_up_front(manager: PortManager) -> None:
    with pytest.raises(aioports.InvalidMetadataError, match="deep"):
        await manager.allocate((3000, 3999), {"a": _deep(40)})
    assert await manager.list_allocations() == []
