"""The CLI with real listeners, real terminals, concurrent processes, closed pipes and Ctrl-C."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cli_helpers import Cli
from helpers import free_block, listener_process, reap

from aioports import Allocation, Occupier, PortStatus, ProbeResult
from aioports.cli._dashboard import LiveState, live_state

BLOCK = 24
PACKAGE, HERB = "\N{PACKAGE}", "\N{HERB}"


@pytest.fixture
def block() -> int:
    return free_block(BLOCK)


@pytest.fixture
def cli(tmp_path: Path, block: int) -> Cli:
    return Cli(tmp_path / "registry.json", range=f"{block}-{block + BLOCK - 1}")


def _dashboard_setup(cli: Cli) -> dict[str, int]:
    group = cli.json(
        "group_allocated",
        "--allocate-group", "3", "--roles", "frontend,backend,test",
        "--app", "miyabi", "--worktree", "feature/new-ui",
    )  # fmt: skip
    other = cli.json("allocated", "--allocate", "--app", "zen", "--service", "api")
    return dict(group["ports"]) | {"api": other["port"]}


def test_dashboard_shows_live_state(cli: Cli) -> None:
    ports = _dashboard_setup(cli)
    with (
        listener_process("127.0.0.1", ports["frontend"]) as (front_pid, _),
        listener_process("::1", ports["backend"]) as (back_pid, _),
    ):
        rows = cli.json("dashboard", "--dashboard")
        human = cli("dashboard")
    states = {row["name"]: row["state"] for row in rows}
    assert states == {"frontend": "active", "backend": "active", "test": "free", "api": "free"}
    pids = {row["name"]: (row["process"] or {}).get("pid") for row in rows}
    assert pids == {"frontend": front_pid, "backend": back_pid, "test": None, "api": None}
    assert [(r["app"], r["worktree"], r["port"]) for r in rows] == [
        ("miyabi", "feature/new-ui", ports["frontend"]),
        ("miyabi", "feature/new-ui", ports["backend"]),
        ("miyabi", "feature/new-ui", ports["test"]),
        ("zen", None, ports["api"]),
    ]
    assert all(r["allocation"]["port"] == r["port"] for r in rows)
    name = Path(sys.executable).name
    assert human.out.splitlines() == [
        "aioports - Port Allocations",
        "===========================",
        "",
        "App: miyabi",
        "  Worktree: feature/new-ui",
        f"     frontend  {ports['frontend']:<5}  [ACTIVE] {name} (PID {front_pid})",
        f"     backend   {ports['backend']:<5}  [ACTIVE] {name} (PID {back_pid})",
        f"     test      {ports['test']:<5}  [FREE]",
        "",
        "App: zen",
        "  Worktree: (no worktree)",
        f"     api       {ports['api']:<5}  [FREE]",
    ]
    # The listeners have exited: every entry is free again.
    after = cli.json("dashboard", "--dashboard")
    assert {row["state"] for row in after} == {"free"}
    assert all(row["process"] is None for row in after)


def test_empty_dashboard_and_list(cli: Cli) -> None:
    dashboard, listing = cli.many([["--dashboard"], ["--list"]])
    assert dashboard.out == listing.out == "aioports: No ports are allocated.\n"
    assert cli.json("dashboard", "--dashboard") == []


def _allocation(owner_pid: int | None) -> Allocation:
    return Allocation(port=4000, allocated_at=datetime.now(UTC), owner_pid=owner_pid)


@pytest.mark.parametrize(
    ("owner", "holder", "status", "expected"),
    [
        (None, None, PortStatus.FREE, LiveState.FREE),
        (None, None, PortStatus.IN_USE, LiveState.ACTIVE),
        (None, 77, PortStatus.IN_USE, LiveState.ACTIVE),
        (77, 77, PortStatus.IN_USE, LiveState.ACTIVE),
        (77, 78, PortStatus.IN_USE, LiveState.FOREIGN),
        (77, (78, 77), PortStatus.IN_USE, LiveState.ACTIVE),
        (77, (78, 99, 1), PortStatus.IN_USE, LiveState.FOREIGN),
        (77, None, PortStatus.IN_USE, LiveState.ACTIVE),
        (None, None, PortStatus.DENIED, LiveState.DENIED),
    ],
)
def test_live_state_rules(
    owner: int | None,
    holder: int | tuple[int, ...] | None,
    status: PortStatus,
    expected: LiveState,
) -> None:
    probe = ProbeResult(port=4000, status=status)
    pid, *parents = (holder,) if isinstance(holder, int | None) else holder
    occupier = (
        None
        if pid is None
        else Occupier(pid=pid, process_name="node", port=4000, parent_pids=tuple(parents))
    )
    assert live_state(_allocation(owner), probe, occupier) is expected


def test_twenty_concurrent_allocations_get_distinct_ports(cli: Cli, block: int) -> None:
    results = cli.many([["--allocate", "--json", "--app", f"a{i}"] for i in range(20)])
    assert [done.code for done in results] == [0] * 20
    ports = sorted(done.json()["port"] for done in results)
    assert len(set(ports)) == 20
    assert all(block <= port < block + BLOCK for port in ports)
    assert [a["port"] for a in cli.json("list", "--list")] == ports


@contextlib.contextmanager
def _terminal() -> Iterator[tuple[int, int]]:
    primary, secondary = pty.openpty()
    try:
        yield primary, secondary
    finally:
        for fd in (primary, secondary):
            with contextlib.suppress(OSError):
                os.close(fd)


def _read_all(fd: int, proc: subprocess.Popen[str]) -> str:
    chunks = []
    while True:
        ready, _, _ = select.select([fd], [], [], 30)
        if not ready:
            break
        try:
            data = os.read(fd, 4096)
        except OSError:  # EIO: the child closed its end
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=30)
    return b"".join(chunks).decode()


def _on_terminal(cli: Cli, *args: str, env: dict[str, str] | None = None) -> str:
    with _terminal() as (primary, secondary):
        proc = cli.popen(*args, env=env, stdout=secondary, stderr=subprocess.PIPE)
        os.close(secondary)
        out = _read_all(primary, proc)
        assert proc.stderr is not None
        proc.stderr.close()
        return out


def test_emoji_and_colour_only_on_a_terminal(cli: Cli) -> None:
    _dashboard_setup(cli)
    piped = cli("--dashboard").out
    on_terminal = _on_terminal(cli, "--dashboard", env={"PYTHONIOENCODING": "utf-8"})
    no_color = _on_terminal(cli, "--dashboard", env={"NO_COLOR": "1"})
    ascii_terminal = _on_terminal(cli, "--dashboard", env={"PYTHONIOENCODING": "ascii"})
    assert f"{PACKAGE} App: miyabi" in on_terminal
    assert f"  {HERB} Worktree: feature/new-ui" in on_terminal
    assert "\033[" in on_terminal
    for plain in (piped, no_color):
        assert "\033[" not in plain
        assert PACKAGE not in plain
        assert HERB not in plain
        assert "App: miyabi" in plain
    assert PACKAGE not in ascii_terminal
    assert "App: miyabi" in ascii_terminal


def test_cleanup_asks_on_a_terminal(cli: Cli) -> None:
    cli("--allocate")
    for answer, code, remaining in ((b"n\n", 1, 1), (b"y\n", 0, 0)):
        with _terminal() as (primary, secondary):
            proc = cli.popen("--cleanup", stdin=secondary)
            os.close(secondary)
            os.write(primary, answer)
            out, err = proc.communicate(timeout=60)
        assert proc.returncode == code, (out, err)
        assert "Remove every allocation from the registry? [y/N]" in err
        assert len(cli.json("list", "--list")) == remaining
    assert "Cleanup cancelled" not in out


def test_closed_pipe_ends_quietly(cli: Cli) -> None:
    for _ in range(3):
        cli("--allocate")
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody will ever read: the first write meets EPIPE
    try:
        proc = cli.popen("--list", stdout=write_end)
    finally:
        os.close(write_end)
    _, err = proc.communicate(timeout=60)
    assert (proc.returncode, err) == (1, "")


def _holds(pid: int, path: Path) -> bool:
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == str(path):
                    return True
    return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("json_mode", [False, True], ids=["human", "json"])
def test_ctrl_c_exits_130_without_a_traceback(cli: Cli, json_mode: bool) -> None:
    lock = cli.registry.with_name(cli.registry.name + ".lock")
    with open(lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another process's hold: the CLI has to wait
        proc = cli.popen("--list", *(["--json"] if json_mode else []))
        try:
            deadline = time.monotonic() + 30
            while not _holds(proc.pid, lock):  # it is waiting on the lock, inside main()
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline
                time.sleep(0.02)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                reap(proc)
    assert proc.returncode == 130
    if json_mode:  # an agent still gets its one document
        assert json.loads(out) == {
            "status": "error",
            "error": {"type": "Interrupted", "message": "interrupted"},
        }
        assert err == ""
    else:
        assert (out, err) == ("", "aioports: interrupted\n")
