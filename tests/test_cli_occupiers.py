"""--detect, --kill-port, --reserve, --scan and the dashboard's PIDs through the real executable.

They need the library methods of the occupier and scanning issues; until those are merged
these tests are skipped (``test_cli_input.py`` checks the clean refusal meanwhile).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import Cli
from helpers import bindable, free_block, free_port, listener_process

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
