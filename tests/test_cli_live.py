"""The CLI with real listeners (in-process), and, through the real executable, real
terminals, concurrent processes, closed pipes and Ctrl-C."""

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

import forked
import pytest
from cli_helpers import CliRunner, Executable
from helpers import free_block
from processes import listener_process, needs_sigint, reap

from aioports import Allocation, Occupier, PortStatus, ProbeResult
from aioports.cli._dashboard import LiveState, live_state

BLOCK = 24
PACKAGE, HERB = "\N{PACKAGE}", "\N{HERB}"


@pytest.fixture
def block() -> int:
    return free_block(BLOCK)


@pytest.fixture
def cli(tmp_path: Path, block: int, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    return CliRunner(monkeypatch, tmp_path / "registry.json", range=f"{block}-{block + BLOCK - 1}")


@pytest.fixture
def exe(cli: CliRunner) -> Executable:
    """The real executable, on the same registry and range as ``cli``."""
    return Executable(cli.registry, cli.range)


def _dashboard_setup(cli: CliRunner) -> dict[str, int]:
    group = cli.json(
        "group_allocated",
        "--allocate-group", "3", "--roles", "frontend,backend,test",
        "--app", "miyabi", "--worktree", "feature/new-ui",
    )  # fmt: skip
    other = cli.json("allocated", "--allocate", "--app", "zen", "--service", "api")
    return dict(group["ports"]) | {"api": other["port"]}


def test_dashboard_shows_live_state(cli: CliRunner) -> None:
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
    assert human.stdout.splitlines() == [
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


def test_empty_dashboard_and_list(cli: CliRunner) -> None:
    dashboard, listing = cli.many([["--dashboard"], ["--list"]])
    assert dashboard.stdout == listing.stdout == "aioports: No ports are allocated.\n"
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


def test_concurrent_allocations_get_distinct_ports(
    cli: CliRunner, exe: Executable, block: int
) -> None:
    # Four console scripts started at once race for the registry lock (the library's own
    # race, ten processes on both doors, is tests/test_concurrency.py's).
    runs = 4
    results = exe.many([["--allocate", "--json", "--app", f"a{i}"] for i in range(runs)])
    assert [done.exit_code for done in results] == [0] * runs
    ports = sorted(done.json()["port"] for done in results)
    assert len(set(ports)) == runs
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


def _read_all(fd: int, proc: forked.Child) -> str:
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


def _on_terminals(exe: Executable, args: list[str], envs: list[dict[str, str]]) -> list[str]:
    """Run ``aioports args`` once per environment, all at once, each with its stdout on a
    terminal of its own; return what each terminal showed."""
    with contextlib.ExitStack() as stack:
        runs = []
        for env in envs:
            primary, secondary = stack.enter_context(_terminal())
            proc = exe.popen(*args, env=env, stdout=secondary, stderr=subprocess.PIPE)
            stack.callback(reap, proc)
            os.close(secondary)
            runs.append((primary, proc))
        return [_read_all(primary, proc) for primary, proc in runs]


def test_emoji_and_colour_only_on_a_terminal(cli: CliRunner, exe: Executable) -> None:
    _dashboard_setup(cli)
    piped = cli("--dashboard").stdout
    on_terminal, no_color, ascii_terminal, c_locale = _on_terminals(
        exe,
        ["--dashboard"],
        [
            {"PYTHONIOENCODING": "utf-8", "LC_ALL": "C.UTF-8"},
            {"NO_COLOR": "1"},
            {"PYTHONIOENCODING": "ascii"},
            # The C locale means plain text, though Python then makes stdout UTF-8.
            {"LC_ALL": "C", "LANG": "C"},
        ],
    )
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
    assert PACKAGE not in c_locale
    assert HERB not in c_locale
    assert "App: miyabi" in c_locale


def test_cleanup_asks_on_a_terminal(cli: CliRunner) -> None:
    cli("--allocate")
    for answer, code, remaining in (("n\n", 1, 1), ("y\n", 0, 0)):
        done = cli("--cleanup", input=answer, terminal=["stdin"])
        out, err = done.stdout, done.stderr
        assert done.exit_code == code, (out, err)
        assert "Remove every allocation from the registry? [y/N]" in err
        assert len(cli.json("list", "--list")) == remaining
    assert "Cleanup cancelled" not in out


def test_closed_pipe_ends_quietly(cli: CliRunner, exe: Executable) -> None:
    for _ in range(3):
        cli("--allocate")
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody will ever read: the first write meets EPIPE
    try:
        proc = exe.popen("--list", stdout=write_end)
    finally:
        os.close(write_end)
    _, err = proc.communicate(timeout=60)
    assert (proc.returncode, err) == (1, "")


@pytest.mark.parametrize("json_mode", [False, True], ids=["human", "json"])
def test_a_reader_that_leaves_mid_output_gives_exit_1(
    cli: CliRunner, exe: Executable, json_mode: bool
) -> None:
    """``aioports list | head -c 10`` of a large registry: the first write is cut short by the
    reader's exit, and the rest must fail, not be dropped with exit 0."""
    leases = {
        str(port): {"port": port, "allocated_at": "2026-01-01T00:00:00+00:00",
                    "metadata": {"app": "x" * 50}}
        for port in range(20000, 23000)
    }  # fmt: skip
    cli.registry.parent.mkdir(parents=True, exist_ok=True)
    cli.registry.write_text(json.dumps({"version": 2, "leases": leases}))
    proc = exe.popen("list", *(["--json"] if json_mode else []))
    try:
        assert proc.stdout is not None
        assert proc.stderr is not None
        assert proc.stdout.read(10)
        proc.stdout.close()  # as head does once it has its line
        assert proc.wait(timeout=60) == 1
        assert proc.stderr.read() == ""
    finally:
        reap(proc)


def _holds(pid: int, path: Path) -> bool:
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == str(path):
                    return True
    return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("json_mode", [False, True], ids=["human", "json"])
@pytest.mark.parametrize(
    ("sent", "code", "kind", "word"),
    [
        pytest.param(signal.SIGINT, 130, "Interrupted", "interrupted", marks=needs_sigint,
                     id="ctrl-c"),
        pytest.param(signal.SIGTERM, 143, "Terminated", "terminated", id="sigterm"),
    ],
)  # fmt: skip
def test_a_signal_while_waiting_exits_cleanly_with_one_document(
    exe: Executable, json_mode: bool, sent: int, code: int, kind: str, word: str
) -> None:
    lock = exe.registry.with_name(exe.registry.name + ".lock")
    with open(lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another process's hold: the CLI has to wait
        proc = exe.popen("allocate", *(["--json"] if json_mode else []))
        try:
            deadline = time.monotonic() + 30
            while not _holds(proc.pid, lock):  # it is waiting on the lock, inside main()
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline
                time.sleep(0.02)
            proc.send_signal(sent)
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                reap(proc)
    assert proc.returncode == code
    if json_mode:  # an agent still gets its one document
        assert json.loads(out) == {"status": "error", "error": {"type": kind, "message": word}}
        assert err == ""
    else:
        assert (out, err) == ("", f"aioports: {word}\n")
    assert not exe.registry.exists()  # nothing was allocated
