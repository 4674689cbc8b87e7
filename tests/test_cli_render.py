"""What the CLI says for detect, kill, reserve and scan, and the errors that carry context:
through ``main()``, against real listeners and real registry states.

The last section builds the result objects directly, for the outcomes no real state on this
host can produce on demand (a holder that exits between detection and signal, a busy port no
process holds, the scan's progress line, which only a run longer than its delay shows).
"""

from __future__ import annotations

import io
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from cli_helpers import CliRunner, as_nobody, validate
from helpers import free_block, free_port
from processes import FORKED, POLITE, listener_process, spawn

from aioports import (
    InvalidPortError,
    KillOutcome,
    KillResult,
    NoFreePortError,
    Occupier,
    PortManager,
    PortRange,
    PortStatus,
    ProbeResult,
    ScanResult,
)
from aioports._sync import SyncPortManager
from aioports.cli._commands import show_progress
from aioports.cli._results import Style
from aioports.cli._results_live import Killed, Scanned

#: the process name of a listener child
NAME = Path(sys.executable).name
needs_root = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to become nobody"
)


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    start = free_block(4)
    return CliRunner(monkeypatch, tmp_path / "registry.json", range=f"{start}-{start + 3}")


def _occupier(port: int) -> Occupier:
    """Who holds ``port``, as the library says (what the CLI must report)."""

    async def detect() -> Occupier | None:
        return await PortManager(Path(os.devnull)).detect_occupier(port)

    found = anyio.run(detect)
    assert found is not None
    return found


def test_detect_sentences_and_document(cli: CliRunner) -> None:
    with listener_process() as (pid, port):
        human = cli("--detect", str(port))
        document = cli.json("detect", "--detect", str(port))
        occupier = _occupier(port)
    assert human.stdout == (
        f"aioports: Port {port} is currently occupied.\n"
        f"Process: {NAME} (PID: {pid})\n"
        "No action was taken.\n"
    )
    assert document == {
        "status": "occupied",
        "port": port,
        "process": {"pid": pid, "name": NAME},
        "occupier": occupier.to_dict(),
        "occupiers": [occupier.to_dict()],
        "message": f"Port {port} is currently occupied.",  # the sentence people read first
    }
    free = cli.json("detect", "--detect", str(port))
    assert (free["status"], free["process"], free["occupier"]) == ("free", None, None)


@needs_root
def test_detect_a_hidden_holder_in_json(cli: CliRunner) -> None:
    with listener_process() as (_, port):
        done = as_nobody(cli.registry, "--detect", str(port), "--json", range=cli.range)
    assert done.exit_code == 0, done.stderr
    hidden = done.json()
    validate("detect", hidden)
    assert hidden["process"] == {"pid": None, "name": None}


def test_kill_sentences_and_documents(cli: CliRunner) -> None:
    with spawn(POLITE) as child:
        human = cli("--kill-port", str(child.port))
    assert (human.stdout, human.stderr) == (
        f"aioports: Port {child.port} was occupied by PID {child.pid}.\n"
        "aioports has safely terminated the process.\nPortShot was prevented.\n",
        "",
    )
    with spawn(POLITE) as child:
        document = cli.json("kill", "--kill-port", str(child.port))
    assert (document["status"], document["killed"], document["port"]) == (
        "killed", True, child.port
    )  # fmt: skip
    assert document["process"] == {"pid": child.pid, "name": NAME}

    port = free_port()
    human = cli("--kill-port", str(port))
    assert (human.stdout, human.stderr) == (
        f"aioports: Port {port} is free; nothing to kill.\n",
        "",
    )
    document = cli.json("kill", "--kill-port", str(port))
    assert (document["status"], document["killed"], document["port"]) == ("free", False, port)
    assert document["process"] is None
    # A holder that ignores SIGTERM: test_cli_occupiers.py, test_a_holder_that_ignores_sigterm.


def test_reserve_sentences_and_documents(cli: CliRunner) -> None:
    port = free_port()
    assert cli("--reserve", str(port)).stdout == f"aioports: Port {port} is now reserved.\n"
    with spawn(POLITE) as child:
        human = cli("--reserve", str(child.port), "--kill")
    assert human.stdout == (
        f"aioports: Port {child.port} was occupied by PID {child.pid}.\n"
        "aioports has safely terminated the process.\n"
        f"aioports: Port {child.port} is now reserved.\n"
    )
    # Below the ephemeral range: a port there would add reserve's "warnings" to the document.
    with spawn(POLITE, port=free_block(1)) as child:
        document = cli.json("reserve", "--reserve", str(child.port), "--kill")
    assert document == {
        "status": "reserved",
        "port": child.port,
        "was_occupied": True,
        "killed": True,
        "process": {"pid": child.pid, "name": NAME},
        "message": f"Port {child.port} is now reserved.",
    }


def test_scan_report_names_a_holder(cli: CliRunner) -> None:
    start = free_block(4)
    span = f"{start}-{start + 3}"
    with spawn(POLITE, port=start + 1) as child:
        human = cli("--scan", span)
        document = cli.json("scan", "--scan", span)
    assert human.stdout.splitlines() == [
        f"aioports: 1 of 4 ports in {span} is in use; 3 free.",
        "PORT   STATUS  PROCESS",
        f"{start + 1}  in_use  {NAME} (PID: {child.pid})",
    ]
    assert document["in_use"] == [
        {"port": start + 1, "status": "in_use", "process": {"pid": child.pid, "name": NAME}}
    ]
    assert (document["free"], document["range"]) == (3, {"start": start, "end": start + 3})


def test_scan_report_takes_the_first_holder(cli: CliRunner) -> None:
    start = free_block(2)
    with spawn(FORKED, port=start) as child:  # three processes share the socket
        document = cli.json("scan", "--scan", f"{start}-{start + 1}")
    [entry] = document["in_use"]
    assert entry["process"]["pid"] in child.pids


def _error(done: Any) -> Any:
    document = done.json()
    validate("error", document)
    return document["error"]


def test_errors_carry_their_context(cli: CliRunner, tmp_path: Path) -> None:
    assert _error(cli("--probe", "abc", "--json")) == {
        "type": "InvalidPortError", "message": str(InvalidPortError("abc")), "value": "abc"
    }  # fmt: skip
    with listener_process() as (_, busy):
        in_use = _error(cli("--reserve", str(busy), "--json"))
        occupier = _occupier(busy)
    assert in_use == {
        "type": "PortInUseError",
        "message": in_use["message"],
        "port": busy,
        "occupier": occupier.to_dict(),
        "hint": f"aioports reserve {busy} --kill",
    }
    assert str(busy) in in_use["message"]

    port = free_port()
    cli("--reserve", str(port))
    [allocation] = cli.json("list", "--list")
    taken = _error(cli("--reserve", str(port), "--json"))
    assert taken == {
        "type": "PortAlreadyAllocatedError",
        "message": taken["message"],
        "port": port,
        "allocation": allocation,
        "hint": f"aioports release {port}",
    }

    assert cli.range is not None
    start = int(cli.range.split("-")[0])
    one = f"{start}-{start}"
    cli("--allocate", "--range", one)
    full = _error(cli("--allocate", "--range", one, "--json"))
    expected = NoFreePortError(PortRange(start, start), allocated=1, busy=0)
    assert full == {
        "type": "NoFreePortError",
        "message": str(expected),
        "port": start,
        "range": {"start": start, "end": start},
    }

    broken = tmp_path / "broken" / "registry.json"
    broken.parent.mkdir()
    broken.write_text("{not json")
    corrupt = _error(cli("--list", "--json", env={"AIOPORTS_REGISTRY": str(broken)}))
    assert corrupt == {
        "type": "RegistryCorruptError",
        "message": corrupt["message"],
        "path": str(broken),
        "reason": corrupt["reason"],
        "hint": "aioports repair",
    }
    assert "not valid JSON" in corrupt["reason"]


def test_reserve_refused_by_an_occupier_reads_like_the_seed(cli: CliRunner) -> None:
    with listener_process() as (pid, port):
        done = cli("--reserve", str(port))
    assert done.exit_code == 1
    assert done.stdout == ""
    assert done.stderr == (
        f"aioports: Port {port} is currently occupied.\nProcess: {NAME} (PID: {pid})\n"
        "No action was taken.\nAdd --kill to end it and reserve the port.\n"
    )


@pytest.mark.parametrize("debug", [False, True])
def test_tracebacks_only_with_aioports_debug(cli: CliRunner, debug: bool) -> None:
    done = cli("--probe", "0", env={"AIOPORTS_DEBUG": "1" if debug else None})
    assert done.stderr.startswith("aioports: error: invalid port 0")
    assert ("Traceback (most recent call last)" in done.stderr) is debug
    assert done.stdout == ""


# -- The results on their own: outcomes no real state here produces on demand ---------------
# These import private CLI modules; they follow the CLI's internals when those change.

NODE = Occupier(
    pid=12498,
    process_name="node",
    port=3000,
    cmdline=("node", "server.js"),
    username="dev",
    uid=1000,
    create_time=1.7e9,
    addresses=("127.0.0.1",),
)


def as_json(document: object) -> Any:
    return json.loads(json.dumps(document))


@pytest.mark.parametrize(
    ("pid", "name", "free", "status", "out_text"),
    [
        # Busy, yet no process holds it (only a hidden or kernel-side socket does).
        (None, None, False, "free",
         "aioports: Port 3000 is not held by any process; nothing to kill.\n"),
        # The holder exited between detection and the signal.
        (12498, "node", True, "exited",
         "aioports: Port 3000 was held by node (PID: 12498), which exited first; "
         "nothing to kill.\n"),
    ],
)  # fmt: skip
def test_kill_sentences_no_real_state_produces(
    pid: int | None, name: str | None, free: bool, status: str, out_text: str
) -> None:
    outcome = KillOutcome.NO_HOLDER if pid is None else KillOutcome.EXITED_FIRST
    result = KillResult(
        False, 3000, pid, name, pids=(), signal=None, port_free=free, outcome=outcome
    )
    killed = Killed(result)
    assert (killed.to_stderr, killed.code, killed.human(Style())) == (False, 0, out_text)
    document = as_json(killed.document())
    assert document["message"] == out_text.removeprefix("aioports: ").rstrip("\n")
    validate("kill", document)
    assert (document["status"], document["killed"], document["port"]) == (status, False, 3000)
    assert document["process"] == (None if pid is None else {"pid": pid, "name": name})


def test_scan_report_keeps_a_busy_port_no_process_holds() -> None:
    span = PortRange(3000, 3003)
    busy = ProbeResult(3001, PortStatus.IN_USE)
    bound = ProbeResult(3002, PortStatus.IN_USE)
    result = ScanResult(span, (busy, bound), free=2, occupiers={3001: (NODE, NODE)})
    expected = Scanned(range=span, in_use=((busy, NODE), (bound, None)), free=2)
    assert Scanned.of(result) == expected


async def test_progress_shows_only_after_its_delay_and_erases_itself() -> None:
    stream = io.StringIO()
    with anyio.move_on_after(0.05):
        await show_progress(stream, "scanning 1-65535", delay=1.0)
    assert stream.getvalue() == ""  # a quick command never shows it
    with anyio.move_on_after(0.4):
        await show_progress(stream, "scanning 1-65535", delay=0.01)
    text = stream.getvalue()
    assert re.match(r"\raioports: scanning 1-65535 \.\.\. \d+\.\d s", text), text
    assert text.endswith("\r\033[K")


def test_people_never_see_python_reprs_control_characters_or_endless_cells(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = tmp_path / "state" / "registry.json"
    monkeypatch.setenv("AIOPORTS_REGISTRY", str(registry))
    start = free_block(2)
    manager = SyncPortManager(registry)
    manager.allocate((start, start), {"app": ["a", "b"], "worktree": True})
    manager.allocate((start + 1, start + 1), {"app": None, "service": "x" * 500})
    cli = CliRunner(monkeypatch, registry)
    listed = cli("list").stdout
    assert '["a","b"]' in listed
    assert "true" in listed
    assert "None" not in listed
    assert "['a', 'b']" not in listed
    assert max(len(line) for line in listed.splitlines()) < 250  # the long cell is cut
    rows = {row["port"]: row for row in cli.json("dashboard", "dashboard")}
    assert rows[start]["app"] == ["a", "b"]  # JSON values stay JSON
    assert rows[start]["worktree"] is True
    assert rows[start + 1]["app"] is None
    human = cli("dashboard").stdout
    assert 'App: ["a","b"]' in human
    released = cli("release-group", "\x1b[31mred")
    assert "\x1b" not in released.stdout
    assert "\\x1b[31mred" in released.stdout
