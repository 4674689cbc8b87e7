"""The result objects on their own, for the outcomes the library cannot produce here at will
(detect, kill, reserve, scan) and the errors that carry context: people's text and the JSON
document come from the same object."""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import pytest
from cli_helpers import validate

from aioports import (
    Allocation,
    InvalidPortError,
    KillResult,
    NoFreePortError,
    Occupier,
    PortAlreadyAllocatedError,
    PortInUseError,
    PortRange,
    PortStatus,
    ProbeResult,
    RegistryCorruptError,
    Reservation,
    ScanResult,
)
from aioports.cli._commands import show_progress
from aioports.cli._failure import Failure
from aioports.cli._results import Result, Style
from aioports.cli._results_live import Detected, Killed, Reserved, Scanned

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
HIDDEN = Occupier(pid=None, process_name=None, port=3000, uid=0)


@dataclass
class Shown:
    """What people see of a result: stdout and stderr."""

    out: str
    err: str


def human(result: Result) -> Shown:
    text = result.human(Style())
    return Shown("", text) if result.to_stderr else Shown(text, "")


def as_json(result: Result) -> Any:
    return json.loads(json.dumps(result.document()))


def test_detect_sentences_and_document() -> None:
    assert human(Detected(3000, NODE)).out == (
        "aioports: Port 3000 is currently occupied.\n"
        "Process: node (PID: 12498)\n"
        "No action was taken.\n"
    )
    document = as_json(Detected(3000, NODE))
    validate("detect", document)
    assert document == {
        "status": "occupied",
        "port": 3000,
        "process": {"pid": 12498, "name": "node"},
        "occupier": NODE.to_dict(),
        "message": "Port 3000 is currently occupied.",
    }
    hidden = as_json(Detected(3000, HIDDEN))
    validate("detect", hidden)
    assert hidden["process"] == {"pid": None, "name": None}
    free = as_json(Detected(3000, None))
    validate("detect", free)
    assert (free["status"], free["process"], free["occupier"]) == ("free", None, None)
    assert free["message"] == human(Detected(3000, None)).out.removeprefix("aioports: ").strip()
    assert "Process: unknown process of uid 0 (PID: unknown)" in human(Detected(3000, HIDDEN)).out


@pytest.mark.parametrize(
    ("killed", "pid", "name", "sent", "free", "status", "out_text", "err_text"),
    [
        (True, 12498, "node", "SIGTERM", True, "killed",
         "aioports: Port 3000 was occupied by PID 12498.\n"
         "aioports has safely terminated the process.\nPortShot was prevented.\n", ""),
        (False, None, None, None, True, "free",
         "aioports: Port 3000 is free; nothing to kill.\n", ""),
        (False, None, None, None, False, "free",
         "aioports: Port 3000 is not held by any process; nothing to kill.\n", ""),
        (False, 12498, "node", None, True, "exited",
         "aioports: Port 3000 was held by node (PID: 12498), which exited first; "
         "nothing to kill.\n", ""),
        (False, 12498, "node", "SIGTERM", False, "not_killed", "",
         "aioports: error: Port 3000 is occupied by node (PID: 12498), which did not exit in "
         "time; use --force to kill it outright\n"),
    ],
)  # fmt: skip
def test_kill_sentences_and_documents(
    killed: bool,
    pid: int | None,
    name: str | None,
    sent: str | None,
    free: bool,
    status: str,
    out_text: str,
    err_text: str,
) -> None:
    signalled = () if pid is None or sent is None else (pid,)
    result = KillResult(killed, 3000, pid, name, pids=signalled, signal=sent, port_free=free)
    shown = human(Killed(result))
    assert (shown.out, shown.err) == (out_text, err_text)
    document = as_json(Killed(result))
    validate("kill", document)
    assert (document["status"], document["killed"], document["port"]) == (status, killed, 3000)
    assert document["process"] == (None if pid is None else {"pid": pid, "name": name})
    # The JSON message is the sentence people read first.
    first = (out_text or err_text).splitlines()[0]
    assert first.removeprefix("aioports: ").removeprefix("error: ") == document["message"]
    assert Killed(result).code == (1 if status == "not_killed" else 0)


def _reservation(port: int, occupier: Occupier | None) -> Reservation:
    allocation = Allocation(port=port, allocated_at=datetime(2026, 1, 1, tzinfo=UTC))
    return Reservation(port, occupier is not None, occupier is not None, occupier, allocation)


def test_reserve_sentences_and_documents() -> None:
    assert human(Reserved(_reservation(11434, None))).out == (
        "aioports: Port 11434 is now reserved.\n"
    )
    assert human(Reserved(_reservation(11434, NODE))).out == (
        "aioports: Port 11434 was occupied by PID 12498.\n"
        "aioports has safely terminated the process.\n"
        "aioports: Port 11434 is now reserved.\n"
    )
    document = as_json(Reserved(_reservation(11434, NODE)))
    validate("reserve", document)
    assert document == {
        "status": "reserved",
        "port": 11434,
        "was_occupied": True,
        "killed": True,
        "process": {"pid": 12498, "name": "node"},
        "message": "Port 11434 is now reserved.",
    }


def test_scan_report_takes_the_first_holder() -> None:
    span = PortRange(3000, 3003)
    busy = ProbeResult(3001, True, PortStatus.IN_USE)
    bound = ProbeResult(3002, True, PortStatus.IN_USE)
    result = ScanResult(span, (busy, bound), free=2, occupiers={3001: (NODE, NODE)})
    expected = Scanned(range=span, in_use=((busy, NODE), (bound, None)), free=2)
    assert Scanned.of(result) == expected
    assert human(Scanned(range=span, in_use=((busy, NODE),), free=3)).out.splitlines() == [
        "aioports: 1 of 4 ports in 3000-3003 is in use; 3 free.",
        "PORT  STATUS  PROCESS",
        "3001  in_use  node (PID: 12498)",
    ]
    document = as_json(Scanned(span, ((busy, NODE),), 3))
    validate("scan", document)
    assert document["in_use"] == [
        {"port": 3001, "status": "in_use", "process": {"pid": 12498, "name": "node"}}
    ]
    assert (document["free"], document["range"]) == (3, {"start": 3000, "end": 3003})


def _allocation() -> Allocation:
    return Allocation(port=3000, allocated_at=datetime(2026, 1, 1, tzinfo=UTC), pid=7, hostname="h")


@pytest.mark.parametrize(
    ("error", "fields"),
    [
        (InvalidPortError("abc"), {"value": "abc"}),
        (PortInUseError(3000, NODE), {"port": 3000, "occupier": NODE.to_dict()}),
        (PortAlreadyAllocatedError(3000, _allocation()),
         {"port": 3000, "allocation": _allocation().to_dict()}),
        (NoFreePortError(PortRange(3000, 3001), allocated=1, busy=1),
         {"port": 3000, "range": {"start": 3000, "end": 3001}}),
        (RegistryCorruptError(Path("/x/registry.json"), "bad"),
         {"path": "/x/registry.json", "reason": "bad"}),
    ],
)  # fmt: skip
def test_errors_carry_their_context(error: Exception, fields: dict[str, Any]) -> None:
    document = as_json(Failure(error))
    validate("error", document)
    assert document["error"] == {"type": type(error).__name__, "message": str(error)} | fields


def test_reserve_refused_by_an_occupier_reads_like_the_seed() -> None:
    shown = human(Failure(PortInUseError(3000, NODE)))
    assert shown.out == ""
    assert shown.err == (
        "aioports: Port 3000 is currently occupied.\nProcess: node (PID: 12498)\n"
        "No action was taken.\nAdd --kill to end it and reserve the port.\n"
    )


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


@pytest.mark.parametrize("debug", [False, True])
def test_tracebacks_only_with_aioports_debug(monkeypatch: pytest.MonkeyPatch, debug: bool) -> None:
    monkeypatch.delenv("AIOPORTS_DEBUG", raising=False)
    if debug:
        monkeypatch.setenv("AIOPORTS_DEBUG", "1")
    try:
        raise InvalidPortError(0)
    except InvalidPortError as exc:
        error = exc
    shown = human(Failure(error))
    assert shown.err.startswith("aioports: error: invalid port 0")
    assert ("Traceback (most recent call last)" in shown.err) is debug
    assert shown.out == ""
