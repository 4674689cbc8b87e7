"""The renderers on their own, for the outcomes the library cannot produce here yet
(detect, kill, reserve, scan) and the errors that carry context."""

from __future__ import annotations

import io
import json
import re
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
    ScanResult,
)
from aioports.cli._commands import _scan_report, show_progress
from aioports.cli._render import HumanRenderer, ScanReport
from aioports.cli._render_json import JsonRenderer

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


def human() -> tuple[HumanRenderer, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    return HumanRenderer(out, err, colour=False, emoji=False), out, err


def as_json(call: Any) -> Any:
    out = io.StringIO()
    call(JsonRenderer(out))
    return json.loads(out.getvalue())


def test_detect_sentences_and_document() -> None:
    renderer, out, _ = human()
    renderer.detected(3000, NODE)
    assert out.getvalue() == (
        "aioports: Port 3000 is currently occupied.\n"
        "Process: node (PID: 12498)\n"
        "No action was taken.\n"
    )
    document = as_json(lambda r: r.detected(3000, NODE))
    validate("detect", document)
    assert document == {
        "status": "occupied",
        "port": 3000,
        "process": {"pid": 12498, "name": "node"},
        "occupier": NODE.to_dict(),
        "message": "Port is occupied. No action taken.",
    }
    hidden = as_json(lambda r: r.detected(3000, HIDDEN))
    validate("detect", hidden)
    assert hidden["process"] == {"pid": None, "name": None}
    free = as_json(lambda r: r.detected(3000, None))
    validate("detect", free)
    assert (free["status"], free["process"], free["occupier"]) == ("free", None, None)
    renderer, out, _ = human()
    renderer.detected(3000, HIDDEN)
    assert "Process: unknown process of uid 0 (PID: unknown)" in out.getvalue()


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
    renderer, out, err = human()
    renderer.killed(result)
    assert (out.getvalue(), err.getvalue()) == (out_text, err_text)
    document = as_json(lambda r: r.killed(result))
    validate("kill", document)
    assert (document["status"], document["killed"], document["port"]) == (status, killed, 3000)
    assert document["process"] == (None if pid is None else {"pid": pid, "name": name})


def test_reserve_sentences_and_documents() -> None:
    renderer, out, _ = human()
    renderer.reserved(11434, False, False, None)
    assert out.getvalue() == "aioports: Port 11434 is now reserved.\n"
    renderer, out, _ = human()
    renderer.reserved(11434, True, True, NODE)
    assert out.getvalue() == (
        "aioports: Port 11434 was occupied by PID 12498.\n"
        "aioports has safely terminated the process.\n"
        "aioports: Port 11434 is now reserved.\n"
    )
    document = as_json(lambda r: r.reserved(11434, True, True, NODE))
    validate("reserve", document)
    assert document == {
        "status": "reserved",
        "port": 11434,
        "was_occupied": True,
        "killed": True,
        "process": {"pid": 12498, "name": "node"},
        "message": "Port successfully reserved.",
    }


def test_scan_report_takes_the_first_holder() -> None:
    span = PortRange(3000, 3003)
    busy = ProbeResult(3001, PortStatus.IN_USE)
    bound = ProbeResult(3002, PortStatus.IN_USE)
    result = ScanResult(span, (busy, bound), free=2, occupiers={3001: (NODE, NODE)})
    expected = ScanReport(range=span, in_use=((busy, NODE), (bound, None)), free=2)
    assert _scan_report(span, result) == expected
    renderer, out, _ = human()
    renderer.scanned(ScanReport(range=span, in_use=((busy, NODE),), free=3))
    assert out.getvalue().splitlines() == [
        "aioports: 1 of 4 ports in 3000-3003 is in use; 3 free.",
        "PORT  STATUS  PROCESS",
        "3001  in_use  node (PID: 12498)",
    ]
    document = as_json(lambda r: r.scanned(ScanReport(span, ((busy, NODE),), 3)))
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
    document = as_json(lambda r: r.error(error))
    validate("error", document)
    assert document["error"] == {"type": type(error).__name__, "message": str(error)} | fields


def test_reserve_refused_by_an_occupier_reads_like_the_seed() -> None:
    renderer, out, err = human()
    renderer.error(PortInUseError(3000, NODE))
    assert out.getvalue() == ""
    assert err.getvalue() == (
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
    renderer, out, err = human()
    renderer.error(error)
    assert err.getvalue().startswith("aioports: error: invalid port 0")
    assert ("Traceback (most recent call last)" in err.getvalue()) is debug
    assert out.getvalue() == ""
