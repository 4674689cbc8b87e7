"""--detect, --kill-port, --reserve, --scan and the dashboard's PIDs through ``main()``, with
real listeners (and the real executable where the command runs as another user).

They need the library methods of the occupier and scanning issues; until those are merged
these tests are skipped (``test_cli_input.py`` checks the clean refusal meanwhile).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from cli_helpers import CliRunner, Executable, as_nobody, validate
from helpers import bindable, free_block, free_port
from processes import FORKED, POLITE, STUBBORN, alive, listener_process, spawn
from test_occupier import _time_wait_port  # the one recipe for a TIME_WAIT leftover

from aioports import PortManager

needs_occupiers = pytest.mark.skipif(
    not all(hasattr(PortManager, m) for m in ("detect_occupier", "kill_occupier", "reserve")),
    reason="needs PortManager.detect_occupier, kill_occupier and reserve (occupier issue)",
)
needs_scan = pytest.mark.skipif(
    not hasattr(PortManager, "scan"), reason="needs PortManager.scan (scanning issue)"
)


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    start = free_block(8)
    return CliRunner(monkeypatch, tmp_path / "registry.json", range=f"{start}-{start + 7}")


@needs_occupiers
@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_detect_names_the_listener(cli: CliRunner, host: str) -> None:
    with listener_process(host) as (pid, port):
        document = cli.json("detect", "--detect", str(port))
        human = cli("detect", str(port))
    assert document["status"] == "occupied"
    assert document["process"]["pid"] == pid
    assert document["occupier"]["pid"] == pid
    assert document["occupier"]["port"] == port
    assert (human.exit_code, human.stdout.splitlines()[0]) == (
        0, f"aioports: Port {port} is currently occupied."
    )  # fmt: skip
    assert f"(PID: {pid})" in human.stdout
    assert human.stdout.splitlines()[2] == "No action was taken."
    free = cli.json("detect", "--detect", str(port))
    assert (free["status"], free["process"]) == ("free", None)


@needs_occupiers
def test_kill_port_ends_the_listener(cli: CliRunner) -> None:
    with listener_process() as (pid, port):
        document = cli.json("kill", "--kill-port", str(port))
        assert (document["status"], document["killed"]) == ("killed", True)
        assert document["process"]["pid"] == pid
        assert bindable(port)
    nothing = cli("kill-port", str(port))
    assert (nothing.exit_code, nothing.stdout) == (
        0,
        f"aioports: Port {port} is free; nothing to kill.\n",
    )


@needs_occupiers
def test_reserve(cli: CliRunner) -> None:
    port = free_port()
    done = cli("--reserve", str(port), "--app", "ollama")
    assert (done.exit_code, done.stdout) == (0, f"aioports: Port {port} is now reserved.\n")
    assert [(a["port"], a["metadata"]) for a in cli.json("list", "--list")] == [
        (port, {"app": "ollama"})
    ]
    taken = cli.json("error", "--reserve", str(port), code=1)["error"]
    assert taken["type"] == "PortAlreadyAllocatedError"
    with listener_process() as (pid, busy):
        refused = cli.json("error", "--reserve", str(busy), code=1)["error"]
        assert refused["type"] == "PortInUseError"
        assert refused["occupier"]["pid"] == pid
        human = cli("reserve", str(busy))
        assert human.exit_code == 1
        assert f"aioports: Port {busy} is currently occupied." in human.stderr
        document = cli.json("reserve", "--reserve", str(busy), "--kill")
        assert (document["was_occupied"], document["killed"]) == (True, True)
        assert document["process"]["pid"] == pid
        assert busy in [a["port"] for a in cli.json("list", "--list")]


@needs_occupiers
def test_dashboard_names_the_holder(cli: CliRunner) -> None:
    port = cli.json("allocated", "--allocate", "--app", "demo")["port"]
    with listener_process("127.0.0.1", port) as (pid, _):
        rows = cli.json("dashboard", "--dashboard")
        human = cli("dashboard")
    assert rows[0]["state"] == "active"
    assert rows[0]["process"]["pid"] == pid
    assert "[ACTIVE] " in human.stdout
    assert f"(PID {pid})" in human.stdout


@needs_scan
def test_scan_lists_the_ports_in_use(cli: CliRunner) -> None:
    start = free_block(6)
    with listener_process("127.0.0.1", start + 2) as (_, busy):
        document = cli.json("scan", "--scan", f"{start}-{start + 5}")
        human = cli("scan", f"{start}-{start + 5}")
    assert [entry["port"] for entry in document["in_use"]] == [busy]
    assert document["free"] == 5
    assert human.stdout.splitlines()[0] == (
        f"aioports: 1 of 6 ports in {start}-{start + 5} is in use; 5 free."
    )


@needs_occupiers
def test_detect_a_time_wait_leftover_says_no_process_holds_it(cli: CliRunner) -> None:
    port = _time_wait_port()
    document, human = cli.many([["--detect", str(port), "--json"], ["detect", str(port)]])
    validate("detect", document.json())
    body = document.json()
    assert (body["status"], body["process"]) == ("free", None)
    assert (body["occupier"]["pid"], body["occupier"]["status"]) == (None, "TIME_WAIT")
    assert "not held by any process" in body["message"]
    assert human.exit_code == 0
    assert human.stdout == (
        f"aioports: Port {port} is not held by any process: only a closed connection lingers "
        "in TIME_WAIT, and a server that sets SO_REUSEADDR can bind the port.\n"
    )


needs_root = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to switch users"
)
NOBODY = 65534


@needs_occupiers
@needs_root
def test_detect_a_hidden_holder_names_its_uid(cli: CliRunner) -> None:
    with listener_process() as (_, port):
        done = as_nobody(cli.registry, "--detect", str(port), range=cli.range)
    assert done.exit_code == 0, done.stderr
    assert done.stdout.splitlines()[:2] == [
        f"aioports: Port {port} is currently occupied.",
        "Process: unknown process of user root (uid 0, PID: unknown)",
    ]


@needs_occupiers
def test_a_holder_that_ignores_sigterm(cli: CliRunner) -> None:
    # Each run waits out the 3 s grace period after its SIGTERM (no --timeout, so no SIGKILL
    # follows): five processes (forked: tests/forked.py) wait at the same time, where
    # in-process runs would wait one after another.
    exe = Executable(cli.registry, cli.range, fork=True)
    with spawn(STUBBORN) as child:
        port = str(child.port)
        reserve_json, reserve_human, kill_human, kill_json, kill_word = exe.many(
            [["--reserve", port, "--kill", "--json"], ["reserve", port, "--kill"],
             ["--kill-port", port], ["--kill-port", port, "--json"],
             ["kill-port", port, "--json"]]
        )  # fmt: skip
        assert alive(child.pid)
    # Without --timeout a stubborn holder gets a hint: the same command with --force.
    assert kill_word.exit_code == 1
    validate("kill", kill_word.json())
    assert kill_word.json()["hint"] == f"aioports kill-port {port} --force"
    assert reserve_json.exit_code == 1
    error = reserve_json.json()["error"]
    validate("error", reserve_json.json())
    assert error["type"] == "KillFailedError"  # a PortInUseError, as the library raises it
    assert error["hint"] == f"aioports reserve {port} --kill --force"
    assert error["occupier"]["pid"] == child.pid
    assert "did not exit in time" in error["message"]
    assert "use --force" in error["message"]
    assert "Add --kill" not in reserve_human.stderr
    assert reserve_human.exit_code == 1
    assert reserve_human.stderr.startswith(f"aioports: error: Port {port} is still occupied: ")
    assert "did not exit in time; nothing was reserved; use --force" in reserve_human.stderr
    assert cli.json("list", "--list") == []
    # A failed kill is an error: on stderr, in one line.
    assert (kill_human.exit_code, kill_human.stdout) == (1, "")
    assert kill_human.stderr.startswith(f"aioports: error: Port {port} is occupied by ")
    assert f"(PID: {child.pid}), which did not exit in time; use --force" in kill_human.stderr
    assert kill_human.stderr.count("\n") == 1
    name = Path(sys.executable).name
    assert kill_human.stderr == (
        f"aioports: error: Port {port} is occupied by {name} (PID: {child.pid}), which did not "
        "exit in time; use --force to kill it outright\n"
    )
    document = kill_json.json()
    validate("kill", document)
    assert (document["status"], document["killed"], document["port"]) == (
        "not_killed", False, child.port
    )  # fmt: skip
    assert document["process"] == {"pid": child.pid, "name": name}


@needs_occupiers
@needs_root
def test_another_users_process_needs_allow_other_users(cli: CliRunner) -> None:
    with spawn(POLITE, user=NOBODY) as child:
        port = str(child.port)
        refused, refused_reserve = cli.many(
            [["--kill-port", port, "--json"], ["--reserve", port, "--kill"]]
        )
        assert refused.exit_code == 1
        message = refused.json()["error"]["message"]
        assert "use --allow-other-users (as root)" in message
        assert "allow_other_users=True" not in message
        assert refused_reserve.exit_code == 1
        assert "use --allow-other-users (as root)" in refused_reserve.stderr
        assert refused_reserve.stderr.count("\n") == 1
        assert alive(child.pid)
        document = cli.json("reserve", "--reserve", port, "--kill", "--allow-other-users")
        assert (document["killed"], document["process"]["pid"]) == (True, child.pid)
    usage = cli("--reserve", port, "--allow-other-users")
    assert (usage.exit_code, usage.stderr) == (
        2, "aioports: error: --allow-other-users with --reserve needs --kill\n"
    )  # fmt: skip


@needs_occupiers
def test_killing_a_pre_fork_server_names_every_pid(cli: CliRunner) -> None:
    with spawn(FORKED) as child:
        document = cli.json("kill", "--kill-port", str(child.port))
    assert document["killed"] is True
    assert {p["pid"] for p in document["processes"]} == child.pids
    assert document["process"]["pid"] in child.pids
    with spawn(FORKED) as child:
        human = cli("kill-port", str(child.port))
    head = human.stdout.splitlines()[0]
    assert head.startswith(f"aioports: Port {child.port} was occupied by PIDs ")
    assert set(map(int, head.split("PIDs ")[1].rstrip(".").split(", "))) == child.pids
