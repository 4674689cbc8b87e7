"""Pins the JSON of every record, byte for byte, as it was before ``to_dict()`` was derived
from the dataclass fields: a change to a record's JSON must be a deliberate one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from aioports import (
    Allocation,
    AllocationGroup,
    CleanupResult,
    EnsuredPort,
    Explanation,
    ExplanationStatus,
    KillOutcome,
    KillResult,
    Occupier,
    PortKey,
    PortRange,
    PortStatus,
    ProbeResult,
    Pruned,
    PruneReason,
    PruneResult,
    Reason,
    ReasonCode,
    RepairResult,
    Reservation,
    ScanResult,
    WaitResult,
)

WHEN = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
ALLOCATION = Allocation(
    port=3001,
    allocated_at=WHEN,
    metadata={"app": "web", "tags": ["a", "b"], "nested": {"x": 1}},
    pid=42,
    hostname="box",
    owner_pid=43,
    owner_create_time=1700000000.25,
    owner_token="linux:b00t:123",
    group="g1",
    role="frontend",
)
BARE = Allocation(port=3002, allocated_at=WHEN)
NODE = Occupier(
    pid=99,
    process_name="node",
    port=3001,
    cmdline=("node", "server.js"),
    username="alice",
    uid=1000,
    create_time=1700000001.5,
    addresses=("127.0.0.1", "::1"),
    status="LISTEN",
    parent_pids=(98, 1),
)
HIDDEN = Occupier(pid=None, process_name=None, port=3001, uid=0, start_token="linux:b:1")
BUSY = ProbeResult(3001, PortStatus.IN_USE)
DENIED = ProbeResult(80, PortStatus.DENIED)

# Each record and the exact bytes orjson wrote for its to_dict() before the change (the
# allocation's last four keys came with schema version 2).
CASES: list[tuple[Any, bytes]] = [
    (PortRange(3000, 3009), b'{"start":3000,"end":3009}'),
    (BUSY, b'{"port":3001,"in_use":true,"status":"in_use"}'),
    (ProbeResult(3003, PortStatus.FREE), b'{"port":3003,"in_use":false,"status":"free"}'),
    (ALLOCATION,
     b'{"port":3001,"allocated_at":"2026-01-02T03:04:05.678901+00:00","metadata":{"app":"web",'
     b'"tags":["a","b"],"nested":{"x":1}},"pid":42,"hostname":"box","owner_pid":43,'
     b'"owner_create_time":1700000000.25,"owner_token":"linux:b00t:123","group":"g1",'
     b'"role":"frontend","app":null,"worktree":null,"service":null,"owner_pidns":null}'),
    (BARE,
     b'{"port":3002,"allocated_at":"2026-01-02T03:04:05.678901+00:00","metadata":{},"pid":0,'
     b'"hostname":"","owner_pid":null,"owner_create_time":null,"owner_token":null,'
     b'"group":null,"role":null,"app":null,"worktree":null,"service":null,"owner_pidns":null}'),
    (AllocationGroup("g1", (ALLOCATION, BARE)),
     b'{"group_id":"g1","ports":{"frontend":3001,"3002":3002},"allocations":['
     + orjson.dumps(ALLOCATION.to_dict()) + b"," + orjson.dumps(BARE.to_dict()) + b"]}"),
    (CleanupResult(released=2), b'{"cleaned":true,"released":2}'),
    (RepairResult(repaired=True, backup_path="/r.json.bak", reason="not JSON"),
     b'{"repaired":true,"backup_path":"/r.json.bak","reason":"not JSON","kept":0,"dropped":[]}'),
    (RepairResult(repaired=False),
     b'{"repaired":false,"backup_path":null,"reason":null,"kept":0,"dropped":[]}'),
    (NODE,
     b'{"pid":99,"process_name":"node","port":3001,"cmdline":["node","server.js"],'
     b'"username":"alice","uid":1000,"create_time":1700000001.5,'
     b'"addresses":["127.0.0.1","::1"],"status":"LISTEN","parent_pids":[98,1]}'),
    (HIDDEN,
     b'{"pid":null,"process_name":null,"port":3001,"cmdline":[],"username":null,"uid":0,'
     b'"create_time":null,"addresses":[],"status":"LISTEN","parent_pids":[]}'),
    (KillResult(killed=True, port=3001, pid=99, process_name="node", pids=(99, 100),
                signal="SIGKILL", escalated=True, port_free=True, message="gone",
                occupiers=(NODE, HIDDEN), outcome=KillOutcome.KILLED),
     b'{"killed":true,"port":3001,"pid":99,"process_name":"node","pids":[99,100],'
     b'"signal":"SIGKILL","escalated":true,"port_free":true,"message":"gone","occupiers":['
     + orjson.dumps(NODE.to_dict()) + b"," + orjson.dumps(HIDDEN.to_dict())
     + b'],"outcome":"killed"}'),  # "outcome" is the one key added on purpose
    (Reservation(port=3001, was_occupied=True, killed=True, occupier=NODE,
                 allocation=ALLOCATION),
     b'{"port":3001,"was_occupied":true,"killed":true,"occupier":'
     + orjson.dumps(NODE.to_dict()) + b',"allocation":' + orjson.dumps(ALLOCATION.to_dict())
     + b"}"),
    (Reservation(port=3002, was_occupied=False, killed=False, occupier=None, allocation=BARE),
     b'{"port":3002,"was_occupied":false,"killed":false,"occupier":null,"allocation":'
     + orjson.dumps(BARE.to_dict()) + b"}"),
    (ScanResult(PortRange(80, 3001), (DENIED, BUSY), free=2920, elapsed=0.5,
                occupiers={3001: (NODE,)}),
     b'{"range":{"start":80,"end":3001},"in_use":[{"port":80,"in_use":true,"status":"denied",'
     b'"occupiers":[]},{"port":3001,"in_use":true,"status":"in_use","occupiers":['
     + orjson.dumps(NODE.to_dict()) + b"]}],\"free\":2920,\"elapsed\":0.5}"),
    (ScanResult(PortRange(80, 80), (DENIED,), free=0),
     b'{"range":{"start":80,"end":80},"in_use":[{"port":80,"in_use":true,"status":"denied"}],'
     b'"free":0,"elapsed":0.0}'),
    (PortKey("shop", "/w/shop", "web"), b'{"app":"shop","worktree":"/w/shop","service":"web"}'),
    (EnsuredPort(BARE, created=True, env="PORT"),
     b'{"allocation":' + orjson.dumps(BARE.to_dict()) + b',"created":true,"env":"PORT"}'),
    (Pruned(BARE, PruneReason.WORKTREE_GONE),
     b'{"allocation":' + orjson.dumps(BARE.to_dict()) + b',"reason":"worktree_gone"}'),
    (PruneResult((Pruned(BARE, PruneReason.OWNER_GONE),), dry_run=True),
     b'{"pruned":[{"allocation":' + orjson.dumps(BARE.to_dict())
     + b',"reason":"owner_gone"}],"dry_run":true}'),
    (Reason(ReasonCode.HELD, "node holds it.", {"pid": 99, "addresses": ("::1",)}),
     b'{"code":"held","pid":99,"addresses":["::1"],"message":"node holds it."}'),
    (Explanation(3001, ExplanationStatus.IN_USE,
                 (Reason(ReasonCode.TIME_WAIT, "lingers", {"state": "TIME_WAIT"}),), "busy"),
     b'{"port":3001,"status":"in_use","reasons":[{"code":"time_wait","state":"TIME_WAIT",'
     b'"message":"lingers"}],"message":"busy"}'),
    (WaitResult(3001, "listening", 0.25, pids=(99,), addresses=("127.0.0.1",)),
     b'{"port":3001,"condition":"listening","waited":0.25,"pids":[99],'
     b'"addresses":["127.0.0.1"]}'),
]  # fmt: skip


@pytest.mark.parametrize(("record", "expected"), CASES, ids=lambda c: type(c).__name__)
def test_to_dict_is_pinned(record: Any, expected: bytes) -> None:
    assert orjson.dumps(record.to_dict()) == expected


def test_every_record_has_a_case() -> None:
    import aioports

    records = {
        obj for name in aioports.__all__
        if isinstance(obj := getattr(aioports, name), type) and hasattr(obj, "to_dict")
        and not issubclass(obj, BaseException)
    }  # fmt: skip
    assert records == {type(record) for record, _ in CASES}
