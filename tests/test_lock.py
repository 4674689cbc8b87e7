"""The registry lock: handed over in the kernel, shared by a process's managers, safe when its
file is deleted, and never set beside something that is not a registry."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import anyio
import anyio.lowlevel
import forked
import orjson
import pytest
from helpers import free_block
from processes import exited_pid, reap, registry_locked_elsewhere

import aioports
from aioports import PortManager, RegistryError, RegistryLockTimeoutError
from aioports._settings import save_range, settings_path
from aioports._sync import SyncPortManager


async def test_hundreds_of_managers_of_one_process_queue_instead_of_timing_out(
    registry_path: Path,
) -> None:
    # Each task has its own manager, as code that builds one per request does; they share
    # one in-process lock per registry file and event loop, so every one gets its turn.
    tasks = 120  # benchmarks/bench_leases.py runs 1,000
    start = free_block(tasks)
    span = (start, start + tasks - 1)
    held: set[int] = set()
    shared: list[int] = []  # ports two leases held at once
    leases = 0
    failures: list[BaseException] = []

    async def one() -> None:
        nonlocal leases
        try:
            async with PortManager(registry_path, lock_timeout=60).lease(span) as lease:
                if lease.port in held:
                    shared.append(lease.port)
                held.add(lease.port)
                leases += 1
                await anyio.lowlevel.checkpoint()
                held.discard(lease.port)  # a released port may go to the next task: fine
        except Exception as exc:  # collected: the assertion below names them
            failures.append(exc)

    async with anyio.create_task_group() as group:
        for _ in range(tasks):
            group.start_soon(one)
    assert failures == []
    assert shared == []
    assert leases == tasks
    assert await PortManager(registry_path).list_allocations() == []


async def test_a_waiting_manager_can_be_cancelled_and_the_lock_still_works(
    registry_path: Path,
) -> None:
    with registry_locked_elsewhere(registry_path):
        with anyio.move_on_after(0.3) as scope:
            await PortManager(registry_path, lock_timeout=60).list_allocations()
        assert scope.cancelled_caught
        with pytest.raises(RegistryLockTimeoutError):
            await PortManager(registry_path, lock_timeout=0.2).list_allocations()
    # The abandoned waits gave the lock back as soon as they got it.
    assert await PortManager(registry_path, lock_timeout=5).list_allocations() == []


def test_the_sync_door_waits_for_the_holder_and_times_out(registry_path: Path) -> None:
    with registry_locked_elsewhere(registry_path), pytest.raises(RegistryLockTimeoutError):
        SyncPortManager(registry_path, lock_timeout=0.2).list_allocations()
    start = free_block(1)
    with registry_locked_elsewhere(registry_path, seconds=0.5):
        # Blocks in the kernel until the holder exits, then takes the lock.
        assert SyncPortManager(registry_path, lock_timeout=30).allocate((start, start)) == start


PAUSED_WRITER = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime
    from pathlib import Path
    from aioports import Allocation, RegistryError
    from aioports._registry_sync import SyncRegistry

    registry = SyncRegistry(Path(sys.argv[1]), lock_timeout=10)
    try:
        with registry.transaction() as entries:
            print("holding", flush=True)
            sys.stdin.readline()
            entries.add(Allocation(port=int(sys.argv[2]), allocated_at=datetime.now(UTC)))
    except RegistryError as exc:
        print("refused:", exc, flush=True)
    else:
        print("written", flush=True)
    """
)


def test_a_lock_file_deleted_under_its_holder_never_lets_two_writers_commit(
    registry_path: Path,
) -> None:
    start = free_block(2)
    holder = forked.start(PAUSED_WRITER, str(registry_path), str(start), stdin=forked.PIPE)
    try:
        assert holder.stdout is not None
        assert holder.stdin is not None
        assert holder.stdout.readline().strip() == "holding"
        os.unlink(registry_path.with_name("registry.json.lock"))
        # A second writer gets in on a new lock file ...
        second = SyncPortManager(registry_path, lock_timeout=5)
        assert second.allocate((start + 1, start + 1)) == start + 1
        # ... so the first one, resumed, must not commit what it decided meanwhile.
        holder.stdin.write("go\n")
        holder.stdin.flush()
        assert holder.stdout.readline().startswith("refused: the lock file of")
    finally:
        if holder.stdin is not None:
            holder.stdin.close()
        reap(holder)
    assert [a.port for a in second.list_allocations()] == [start + 1]
    assert not [p for p in registry_path.parent.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
async def test_a_fifo_in_the_registrys_place_is_refused_without_hanging(
    registry_path: Path,
) -> None:
    registry_path.parent.mkdir(parents=True)
    os.mkfifo(registry_path)
    with pytest.raises(RegistryError, match="FIFO"):
        await PortManager(registry_path, lock_timeout=5).list_allocations()
    with pytest.raises(RegistryError, match="FIFO"):
        SyncPortManager(registry_path, lock_timeout=5).list_allocations()
    # Nothing was created beside it.
    assert sorted(p.name for p in registry_path.parent.iterdir()) == ["registry.json"]


def test_folders_are_created_private_whatever_the_umask(tmp_path: Path) -> None:
    registry = tmp_path / "a" / "b" / "registry.json"
    previous = os.umask(0)
    try:
        SyncPortManager(registry).list_allocations()
    finally:
        os.umask(previous)
    assert (tmp_path / "a").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "a" / "b").stat().st_mode & 0o777 == 0o700


def test_every_door_honours_the_saved_range(
    registry_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What `aioports set-range` saves is the default of the library and the sync facade too.
    start = free_block(1)
    monkeypatch.delenv("AIOPORTS_RANGE", raising=False)
    save_range(settings_path(), aioports.PortRange(start, start))
    assert aioports.allocate_sync(registry_path=registry_path) == start
    assert PortManager(registry_path).get_range() == aioports.PortRange(start, start)
    assert SyncPortManager(registry_path).range_setting().source == "saved"
    monkeypatch.setenv("AIOPORTS_RANGE", f"{start + 1}-{start + 1}")
    assert PortManager(registry_path).get_range() == aioports.PortRange(start + 1, start + 1)


def test_the_registry_on_disk_is_compact_json(registry_path: Path) -> None:
    start = free_block(1)
    SyncPortManager(registry_path).allocate((start, start), {"app": "x"})
    data = registry_path.read_bytes()
    assert b"\n" not in data.rstrip(b"\n")
    assert orjson.loads(data)["leases"][str(start)]["metadata"] == {"app": "x"}


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_as_the_settings_file_is_refused_without_hanging(
    registry_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AIOPORTS_RANGE", raising=False)
    registry_path.parent.mkdir(parents=True)
    settings_path().parent.mkdir(parents=True)
    os.mkfifo(settings_path())
    with pytest.raises(aioports.ConfigError, match="not a regular file"):
        aioports.allocate_sync(registry_path=registry_path)


def test_a_registry_folder_others_may_write_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "open"
    folder.mkdir()
    folder.chmod(0o777)  # another user could swap in their own registry here
    with pytest.raises(aioports.PermissionDeniedError, match="writable by others"):
        SyncPortManager(folder / "registry.json").list_allocations()
    assert list(folder.iterdir()) == []  # nothing was created there


def test_a_sticky_shared_folder_is_fine_when_chosen_explicitly(tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    folder.mkdir()
    folder.chmod(0o1777)  # like /tmp: a registry several users share on purpose
    start = free_block(1)
    manager = SyncPortManager(folder / "registry.json")
    assert manager.allocate((start, start)) == start
    assert [a.port for a in manager.list_allocations()] == [start]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to chown")
def test_a_registry_folder_of_another_user_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "theirs"
    folder.mkdir(mode=0o700)
    os.chown(folder, 65534, 65534)  # nobody's folder: they could swap its registry at will
    with pytest.raises(aioports.PermissionDeniedError, match="belongs to another user"):
        SyncPortManager(folder / "registry.json").list_allocations()
    assert not (folder / "registry.json").exists()


def test_a_killed_set_range_leaves_no_temp_file_for_long(registry_path: Path) -> None:
    settings = settings_path()
    settings.parent.mkdir(parents=True)
    dead = settings.with_name(f".{settings.name}.{exited_pid()}-0123456789abcdef.tmp")
    live = settings.with_name(f".{settings.name}.{os.getpid()}-fedcba9876543210.tmp")
    for temp in (dead, live):
        temp.write_bytes(b'{"version": 1, "ra')
    save_range(settings, aioports.PortRange(4000, 4999))
    assert not dead.exists()  # its writer is gone: swept
    assert live.exists()  # a live writer's file is left alone (settings writes take no lock)
