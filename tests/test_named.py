"""Named ports (``ensure``): the same port for the same (app, worktree, service), in real git
worktrees, across restarts and processes; release by key; prune; the version-2 registry."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import forked
import orjson
import pytest
from helpers import free_block
from processes import exited_pid, listener_process, reap
from repos import add_worktree, make_repo, needs_git

from aioports import (
    InvalidArgumentError,
    InvalidPortError,
    NoFreePortError,
    PortKey,
    PortManager,
    PortRange,
    PruneReason,
)
from aioports._named import start_port
from aioports._sync import SyncPortManager

pytestmark = needs_git


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository named ``shop`` with a pyproject naming the app, as the cwd."""
    repo = make_repo(tmp_path / "shop", files={"pyproject.toml": '[project]\nname = "shop"\n'})
    monkeypatch.chdir(repo)
    return repo


def door(registry_path: Path, width: int = 200) -> SyncPortManager:
    start = free_block(width)
    return SyncPortManager(registry_path, range=(start, start + width - 1))


def test_restarts_in_two_worktrees_keep_two_ports(
    checkout: Path, registry_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    linked = add_worktree(checkout, tmp_path / "shop-feature", "feature")
    pm = door(registry_path)
    seen: dict[Path, set[int]] = {checkout: set(), linked: set()}
    for _ in range(20):
        for folder in (checkout, linked):
            monkeypatch.chdir(folder)
            # A new manager per restart: nothing is remembered but the registry.
            again = SyncPortManager(registry_path, range=pm.get_range())
            seen[folder].add(again.ensure("api").port)
    assert all(len(ports) == 1 for ports in seen.values())
    assert seen[checkout] != seen[linked]
    entries = pm.list_allocations()
    assert len(entries) == 2
    assert {(a.app, a.worktree, a.service) for a in entries} == {
        ("shop", str(checkout), "api"),
        ("shop", str(linked), "api"),
    }
    assert {a.metadata["branch"] for a in entries} == {"main", "feature"}


async def test_a_recorded_port_comes_back_as_it_is(checkout: Path, registry_path: Path) -> None:
    span = door(registry_path).get_range()
    pm = PortManager(registry_path, range=span)
    first = await pm.ensure("web")
    # Its own previous run still listens there: ensure does not move it.
    with socket.socket() as server:
        server.bind(("127.0.0.1", first.port))
        server.listen()
        again = await pm.ensure("web")
    assert again == first  # same port, same allocated_at, same everything
    assert first.key == PortKey("shop", str(checkout), "web")


def test_switching_branches_keeps_the_port(checkout: Path, registry_path: Path) -> None:
    from repos import git

    pm = door(registry_path)
    before = pm.ensure().port
    git(checkout, "switch", "-q", "-c", "other")
    assert pm.ensure().port == before
    assert [a.service for a in pm.list_allocations()] == ["default"]


def test_preferred_port_is_taken_when_free_and_unallocated(
    checkout: Path, registry_path: Path
) -> None:
    pm = door(registry_path)
    span = pm.get_range()
    wanted = span.start + 7
    assert pm.ensure("web", preferred=wanted).port == wanted
    # Another key preferring the same port gets another one.
    assert pm.ensure("api", preferred=wanted).port != wanted


def test_preferred_port_in_use_falls_back_to_the_hashed_start(
    checkout: Path, registry_path: Path
) -> None:
    pm = door(registry_path)
    span = pm.get_range()
    with listener_process(port=span.start + 3) as (_, busy):
        port = pm.ensure("web", preferred=busy).port
    start = start_port(PortKey("shop", str(checkout), "web"), span)
    assert port == (start if start != busy else start + 1)


def test_the_start_port_is_stable_across_processes(checkout: Path) -> None:
    # Not Python's hash(): that one is salted per process.
    code = textwrap.dedent(
        """
        from aioports import PortKey, PortRange
        from aioports._named import start_port
        print(start_port(PortKey("shop", "/home/a/shop", "web"), PortRange(3000, 3999)))
        """
    )
    answers = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in ("1", "2", "3")
    }
    assert len(answers) == 1
    # Another home folder, the same checkout name: the same start.
    here = start_port(PortKey("shop", "/home/a/shop", "web"), PortRange(3000, 3999))
    there = start_port(PortKey("shop", "/srv/b/shop", "web"), PortRange(3000, 3999))
    assert str(here) == answers.pop()
    assert here == there


def test_a_key_lands_on_its_port_again_after_cleanup(checkout: Path, registry_path: Path) -> None:
    pm = door(registry_path)
    first = pm.ensure("web").port
    pm.cleanup()
    assert pm.ensure("web").port == first


def test_eight_processes_ensuring_one_key_get_one_port(checkout: Path, registry_path: Path) -> None:
    span = door(registry_path).get_range()
    code = textwrap.dedent(
        """
        import sys
        from aioports._sync import SyncPortManager
        pm = SyncPortManager(sys.argv[1], range=(int(sys.argv[2]), int(sys.argv[3])))
        sys.stdin.readline()  # start together
        print(pm.ensure("web").port)
        """
    )
    procs = [
        forked.start(code, str(registry_path), str(span.start), str(span.end), stdin=forked.PIPE)
        for _ in range(8)
    ]
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    ports = {proc.communicate(timeout=60)[0].strip() for proc in procs}
    assert all(proc.returncode == 0 for proc in procs)
    assert len(ports) == 1
    assert len(SyncPortManager(registry_path).list_allocations()) == 1


def test_every_manifest_service_in_one_update(checkout: Path, registry_path: Path) -> None:
    pm = door(registry_path)
    span = pm.get_range()
    (checkout / ".aioports.toml").write_text(
        textwrap.dedent(
            f"""
            app = "store"
            [services]
            web = {{ env = "PORT", preferred = {span.start + 5} }}
            api = {{}}
            """
        )
    )
    ensured = pm.ensure_services()
    assert [(e.service, e.env, e.created) for e in ensured] == [
        ("web", "PORT", True),
        ("api", "API_PORT", True),
    ]
    assert ensured[0].port == span.start + 5
    assert {a.app for a in pm.list_allocations()} == {"store"}
    assert [e.created for e in pm.ensure_services()] == [False, False]
    # The manifest's first service is the default one.
    assert pm.ensure().port == span.start + 5
    with pytest.raises(InvalidArgumentError, match="not in"):
        pm.ensure("wbe")


def test_browser_unsafe_ports_are_never_chosen(checkout: Path, registry_path: Path) -> None:
    pm = SyncPortManager(registry_path, range=(3659, 3659))
    with pytest.raises(NoFreePortError, match="never handed out automatically"):
        pm.ensure("web")
    with pytest.raises(NoFreePortError):
        pm.allocate()
    assert pm.list_allocations() == []
    # An explicit choice is honoured.
    assert pm.ensure("web", preferred=3659).port == 3659


@pytest.mark.parametrize(
    ("call", "error"),
    [
        ({"service": ""}, InvalidArgumentError),
        ({"service": "we\x1bb"}, InvalidArgumentError),
        ({"app": " shop"}, InvalidArgumentError),
        ({"app": 3}, InvalidArgumentError),
        ({"worktree": "/nowhere/at/all"}, InvalidArgumentError),
        ({"preferred": 70000}, InvalidPortError),
    ],
    ids=["empty", "control", "spaces", "type", "no-worktree", "preferred"],
)
def test_bad_keys_are_refused_and_change_nothing(
    checkout: Path, registry_path: Path, call: dict[str, object], error: type[Exception]
) -> None:
    pm = door(registry_path)
    pm.ensure("web")
    before = registry_path.read_bytes()
    service = call.pop("service", "web")
    with pytest.raises(error):
        pm.ensure(service, **call)  # type: ignore[arg-type]
    assert registry_path.read_bytes() == before


def test_release_matching(checkout: Path, registry_path: Path) -> None:
    pm = door(registry_path)
    web = pm.ensure("web").port
    api = pm.ensure("api").port
    other = pm.ensure("web", app="other").port
    one_shot = pm.allocate(metadata={"app": "shop", "service": "web"})
    assert pm.release_matching(app="shop", service="web") == sorted([web, one_shot])
    assert [a.port for a in pm.list_allocations(app="shop")] == [api]
    assert pm.release_matching(worktree=str(checkout)) == sorted([api, other])
    with pytest.raises(InvalidArgumentError):
        pm.release_matching()


def test_prune_dry_run_and_prune(
    checkout: Path, registry_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    linked = add_worktree(checkout, tmp_path / "gone", "gone")
    pm = door(registry_path)
    kept = pm.ensure("web").port
    monkeypatch.chdir(linked)
    stale = pm.ensure("web").port
    monkeypatch.chdir(checkout)
    # An owner-bound entry whose owner has exited, written as an older run left it.
    dead = pm.get_range().end
    document = orjson.loads(registry_path.read_bytes())
    document["leases"][str(dead)] = {
        "port": dead,
        "allocated_at": "2026-01-01T00:00:00+00:00",
        "hostname": socket.gethostname(),
        "owner_pid": exited_pid(),
        "owner_create_time": 1.0,
    }
    registry_path.write_bytes(orjson.dumps(document))
    import shutil

    shutil.rmtree(linked)
    before = registry_path.read_bytes()

    dry = pm.prune(dry_run=True)
    assert dry.dry_run
    assert [(p.allocation.port, p.reason) for p in dry.pruned] == sorted(
        [(stale, PruneReason.WORKTREE_GONE), (dead, PruneReason.OWNER_GONE)]
    )
    assert registry_path.read_bytes() == before  # changed nothing, not even the dead owner's

    done = pm.prune()
    assert [p.allocation.port for p in done.pruned] == sorted([stale, dead])
    assert [a.port for a in pm.list_allocations()] == [kept]
    assert pm.prune().pruned == ()


def test_a_worktree_that_is_gone_is_kept_while_its_port_is_held(
    checkout: Path, registry_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    linked = add_worktree(checkout, tmp_path / "busy", "busy")
    pm = door(registry_path)
    monkeypatch.chdir(linked)
    port = pm.ensure("web").port
    monkeypatch.chdir(checkout)
    shutil.rmtree(linked)
    with listener_process(port=port):
        assert pm.prune().pruned == ()
    assert [p.allocation.port for p in pm.prune().pruned] == [port]


def test_a_version_1_registry_is_migrated_losing_nothing(
    checkout: Path, registry_path: Path
) -> None:
    pm = door(registry_path)
    span = pm.get_range()
    old = {
        str(span.start + i): {
            "port": span.start + i,
            "allocated_at": "2026-11-26T10:00:00.123456+00:00",
            "metadata": {"app": "miyabi", "worktree": "feature/new-ui", "service": "frontend"},
            "pid": 12345,
            "hostname": "elsewhere",
            "owner_pid": 99 if i == 1 else None,
            "owner_create_time": 1.5 if i == 1 else None,
            "owner_token": None,
            "group": "g1" if i == 2 else None,
            "role": "web" if i == 2 else None,
        }
        for i in range(3)
    }
    registry_path.parent.mkdir(parents=True, exist_ok=True)
    registry_path.write_text(json.dumps({"version": 1, "leases": old}))
    before = {a.port: a for a in pm.list_allocations()}
    assert len(before) == 3
    assert all(a.key is None for a in before.values())  # one-shot entries, as they were

    pm.ensure("web")  # the first write
    document = orjson.loads(registry_path.read_bytes())
    assert document["version"] == 2
    for key, entry in old.items():
        assert {k: document["leases"][key][k] for k in entry} == entry
    after = {a.port: a for a in pm.list_allocations()}
    assert {p: after[p] for p in before} == before


def test_a_version_1_file_with_version_2_fields_is_refused(registry_path: Path) -> None:
    from aioports import RegistryCorruptError

    registry_path.parent.mkdir(parents=True)
    registry_path.write_text(
        json.dumps(
            {
                "version": 1,
                "leases": {
                    "3000": {"port": 3000, "allocated_at": "2026-01-01T00:00:00+00:00", "app": "x"}
                },
            }
        )
    )
    with pytest.raises(RegistryCorruptError, match="unknown fields"):
        SyncPortManager(registry_path).list_allocations()


def test_an_owner_of_another_pid_namespace_is_never_reclaimed(registry_path: Path) -> None:
    """A container's process records a PID that means nothing here: a gone PID is no proof."""
    pm = door(registry_path)
    span = pm.get_range()
    gone = exited_pid()
    entry = {
        "allocated_at": "2026-01-01T00:00:00+00:00",
        "hostname": socket.gethostname(),
        "owner_pid": gone,
        "owner_create_time": 1.0,
    }
    leases = {
        str(span.start): {**entry, "port": span.start, "owner_pidns": "pid:[1]"},
        str(span.start + 1): {
            **entry,
            "port": span.start + 1,
            "owner_pidns": os.readlink("/proc/self/ns/pid"),
        },
    }
    registry_path.parent.mkdir(parents=True, exist_ok=True)
    registry_path.write_text(json.dumps({"version": 2, "leases": leases}))
    assert [a.port for a in pm.list_allocations()] == [span.start]


def test_an_owner_bound_entry_records_its_namespace(checkout: Path, registry_path: Path) -> None:
    pm = door(registry_path)
    pm.allocate(owner_pid=os.getpid())
    pm.ensure("web", owner_pid=os.getpid())
    namespace = os.readlink("/proc/self/ns/pid")
    assert {a.owner_pidns for a in pm.list_allocations()} == {namespace}


def test_outside_any_repository(
    tmp_path: Path, registry_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    monkeypatch.chdir(folder)
    allocation = door(registry_path).ensure()
    assert (allocation.app, allocation.worktree, allocation.service) == (
        "plain",
        str(folder),
        "default",
    )
    assert "branch" not in allocation.metadata


def test_span_helper_is_inside_the_range() -> None:
    span = PortRange(4000, 4009)
    starts = {start_port(PortKey("a", "/w", f"s{i}"), span) for i in range(200)}
    assert starts <= set(span)
    assert len(starts) == 10  # keys spread over the range


UNSHARE = shutil.which("unshare")
OWNER_IN_A_CONTAINER = """
import sys, time
from aioports._sync import SyncPortManager
import os
pm = SyncPortManager(sys.argv[1], range=(int(sys.argv[2]), int(sys.argv[2])))
print(pm.allocate(owner_pid=os.getpid()), os.getpid(), flush=True)
time.sleep(60)
"""


def _unshare_works() -> bool:
    if UNSHARE is None:
        return False
    done = subprocess.run(
        [UNSHARE, "-pf", "--kill-child", "--mount-proc", "true"],
        capture_output=True,
        check=False,
        timeout=30,
    )
    return done.returncode == 0


@pytest.mark.skipif(not _unshare_works(), reason="unshare -p is not allowed here")
def test_a_live_owner_in_another_pid_namespace_keeps_its_port(registry_path: Path) -> None:
    """The owner runs in a PID namespace of its own (``unshare -p``, as in a container): it
    records PID 1, which here names init. Its port stays as long as it lives."""
    assert UNSHARE is not None
    port = free_block(1)
    registry_path.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [UNSHARE, "-pf", "--kill-child", "--mount-proc", sys.executable, "-c", OWNER_IN_A_CONTAINER,
         str(registry_path), str(port)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        allocated, pid = proc.stdout.readline().split()
        assert (int(allocated), int(pid)) == (port, 1)
        pm = SyncPortManager(registry_path)
        [entry] = pm.list_allocations()
        assert entry.owner_pid == 1
        assert entry.owner_pidns != os.readlink("/proc/self/ns/pid")
        pm.allocate((port + 1, port + 1))  # a write: dead owners would be dropped now
        assert [a.port for a in pm.list_allocations()] == [port, port + 1]
    finally:
        reap(proc)
