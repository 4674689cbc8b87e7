"""--detect, --kill-port, --reserve, --scan and the dashboard's PIDs through the real executable.

They need the library methods of the occupier and scanning issues; until those are merged
these tests are skipped (``test_cli_input.py`` checks the clean refusal meanwhile).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cli_helpers import Cli, as_nobody, validate
from helpers import bindable, free_block, free_port, listener_process
from processes import FORKED, POLITE, STUBBORN, alive, spawn
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
def cli(tmp_path: Path) -> Cli:
    start = free_block(8)
    return Cli(tmp_path / "registry.json", range=f"{start}-{start + 7}")


@needs_occupiers
@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_detect_names_the_listener(cli: Cli, host: str) -> None:
    with listener_process(host) as (pid, port):
        document = cli.json("detect", "--detect", str(port))
        human = cli("detect", str(port))
    assert document["status"] == "occupied"
    assert document["process"]["pid"] == pid
    assert document["occupier"]["pid"] == pid
    assert document["occupier"]["port"] == port
    assert (human.code, human.out.splitlines()[0]) == (
        0, f"aioports: Port {port} is currently occupied."
    )  # fmt: skip
    assert f"(PID: {pid})" in human.out
    assert human.out.splitlines()[2] == "No action was taken."
    free = cli.json("detect", "--detect", str(port))
    assert (free["status"], free["process"]) == ("free", None)


@needs_occupiers
def test_kill_port_ends_the_listener(cli: Cli) -> None:
    with listener_process() as (pid, port):
        document = cli.json("kill", "--kill-port", str(port))
        assert (document["status"], document["killed"]) == ("killed", True)
        assert document["process"]["pid"] == pid
        assert bindable(port)
    nothing = cli("kill-port", str(port))
    assert (nothing.code, nothing.out) == (0, f"aioports: Port {port} is free; nothing to kill.\n")


@needs_occupiers
def test_reserve(cli: Cli) -> None:
    port = free_port()
    done = cli("--reserve", str(port), "--app", "ollama")
    assert (done.code, done.out) == (0, f"aioports: Port {port} is now reserved.\n")
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
        assert human.code == 1
        assert f"aioports: Port {busy} is currently occupied." in human.err
        document = cli.json("reserve", "--reserve", str(busy), "--kill")
        assert (document["was_occupied"], document["killed"]) == (True, True)
        assert document["process"]["pid"] == pid
        assert busy in [a["port"] for a in cli.json("list", "--list")]


@needs_occupiers
def test_dashboard_names_the_holder(cli: Cli) -> None:
    port = cli.json("allocated", "--allocate", "--app", "demo")["port"]
    with listener_process("127.0.0.1", port) as (pid, _):
        rows = cli.json("dashboard", "--dashboard")
        human = cli("dashboard")
    assert rows[0]["state"] == "active"
    assert rows[0]["process"]["pid"] == pid
    assert "[ACTIVE] " in human.out
    assert f"(PID {pid})" in human.out


@needs_scan
def test_scan_lists_the_ports_in_use(cli: Cli) -> None:
    start = free_block(6)
    with listener_process("127.0.0.1", start + 2) as (_, busy):
        document = cli.json("scan", "--scan", f"{start}-{start + 5}")
        human = cli("scan", f"{start}-{start + 5}")
    assert [entry["port"] for entry in document["in_use"]] == [busy]
    assert document["free"] == 5
    assert human.out.splitlines()[0] == (
        f"aioports: 1 of 6 ports in {start}-{start + 5} is in use; 5 free."
    )


@needs_occupiers
def test_detect_a_time_wait_leftover_says_no_process_holds_it(cli: Cli) -> None:
    port = _time_wait_port()
    document, human = cli.many([["--detect", str(port), "--json"], ["detect", str(port)]])
    validate("detect", document.json())
    body = document.json()
    assert (body["status"], body["process"]) == ("free", None)
    assert (body["occupier"]["pid"], body["occupier"]["status"]) == (None, "TIME_WAIT")
    assert "not held by any process" in body["message"]
    assert human.code == 0
    assert human.out == (
        f"aioports: Port {port} is not held by any process: only a closed connection lingers "
        "in TIME_WAIT, and a server that sets SO_REUSEADDR can bind the port.\n"
    )


needs_root = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to switch users"
)
NOBODY = 65534


@needs_occupiers
@needs_root
def test_detect_a_hidden_holder_names_its_uid(cli: Cli) -> None:
    with listener_process() as (_, port):
        done = as_nobody(cli, "--detect", str(port))
    assert done.code == 0, done.err
    assert done.out.splitlines()[:2] == [
        f"aioports: Port {port} is currently occupied.",
        "Process: unknown process of uid 0 (PID: unknown)",
    ]


@needs_occupiers
def test_a_holder_that_ignores_sigterm(cli: Cli) -> None:
    with spawn(STUBBORN) as child:
        port = str(child.port)
        reserve_json, reserve_human, kill_human = cli.many(
            [["--reserve", port, "--kill", "--json"], ["reserve", port, "--kill"],
             ["--kill-port", port]]
        )  # fmt: skip
        assert alive(child.pid)
    assert reserve_json.code == 1
    error = reserve_json.json()["error"]
    validate("error", reserve_json.json())
    assert error["type"] == "PortInUseError"
    assert error["occupier"]["pid"] == child.pid
    assert "did not exit in time" in error["message"]
    assert "use --force" in error["message"]
    assert "Add --kill" not in reserve_human.err
    assert reserve_human.code == 1
    assert reserve_human.err.startswith(f"aioports: error: Port {port} is still occupied: ")
    assert "did not exit in time; nothing was reserved; use --force" in reserve_human.err
    assert cli.json("list", "--list") == []
    # A failed kill is an error: on stderr, in one line.
    assert (kill_human.code, kill_human.out) == (1, "")
    assert kill_human.err.startswith(f"aioports: error: Port {port} is occupied by ")
    assert f"(PID: {child.pid}), which did not exit in time; use --force" in kill_human.err
    assert kill_human.err.count("\n") == 1


@needs_occupiers
@needs_root
def test_another_users_process_needs_allow_other_users(cli: Cli) -> None:
    with spawn(POLITE, user=NOBODY) as child:
        port = str(child.port)
        refused, refused_reserve = cli.many(
            [["--kill-port", port, "--json"], ["--reserve", port, "--kill"]]
        )
        assert refused.code == 1
        message = refused.json()["error"]["message"]
        assert "use --allow-other-users (as root)" in message
        assert "allow_other_users=True" not in message
        assert refused_reserve.code == 1
        assert "use --allow-other-users (as root)" in refused_reserve.err
        assert refused_reserve.err.count("\n") == 1
        assert alive(child.pid)
        document = cli.json("reserve", "--reserve", port, "--kill", "--allow-other-users")
        assert (document["killed"], document["process"]["pid"]) == (True, child.pid)
    usage = cli("--reserve", port, "--allow-other-users")
    assert (usage.code, usage.err) == (
        2, "aioports: error: --allow-other-users with --reserve needs --kill\n"
    )  # fmt: skip


@needs_occupiers
def test_killing_a_pre_fork_server_names_every_pid(cli: Cli) -> None:
    with spawn(FORKED) as child:
        document = cli.json("kill", "--kill-port", str(child.port))
    assert document["killed"] is True
    assert {p["pid"] for p in document["processes"]} == child.pids
    assert document["process"]["pid"] in child.pids
    with spawn(FORKED) as child:
        human = cli("kill-port", str(child.port))
    head = human.out.splitlines()[0]
    assert head.startswith(f"aioports: Port {child.port} was occupied by PIDs ")
    assert set(map(int, head.split("PIDs ")[1].rstrip(".").split(", "))) == child.pids
