"""``PortManager.explain`` / ``SyncPortManager.explain`` and ``aioports why``: every reason
found against real listeners on 127.0.0.1 and ::1, a TIME_WAIT leftover, an allocation, a
privileged port as an unprivileged user; ``decide`` alone for the facts a test cannot set up."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio.to_thread
import pytest
from cli_helpers import CliRunner, as_nobody, validate
from helpers import free_block
from processes import FORKED, POLITE, spawn
from test_occupier import _time_wait_port  # the one recipe for a TIME_WAIT leftover

from aioports import (
    Allocation,
    Explanation,
    ExplanationStatus,
    InvalidPortError,
    PortManager,
    PortRange,
    PortStatus,
    Reason,
    ReasonCode,
)
from aioports._explain import Facts, decide
from aioports._hygiene import ephemeral_range
from aioports._sync import SyncPortManager

NOBODY = 65534
needs_root = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to become nobody"
)


@pytest.fixture
def span() -> PortRange:
    start = free_block(4)
    return PortRange(start, start + 3)


@pytest.fixture
def door(registry_path: Path, span: PortRange) -> SyncPortManager:
    return SyncPortManager(registry_path, range=span)


@pytest.fixture
def cli(registry_path: Path, span: PortRange, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    return CliRunner(monkeypatch, registry_path, str(span))


def codes(explanation: Explanation) -> list[ReasonCode]:
    return [reason.code for reason in explanation.reasons]


def test_a_free_port_in_the_range_has_nothing_against_it(
    door: SyncPortManager, span: PortRange
) -> None:
    explanation = door.explain(span.start)
    assert explanation == Explanation(
        port=span.start,
        status=ExplanationStatus.FREE,
        reasons=(),
        message=f"Port {span.start} is free: a server could start on it now.",
    )


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_a_listener_is_held_with_its_facts(door: SyncPortManager, host: str) -> None:
    with spawn(POLITE, host) as server:
        explanation = door.explain(server.port)
    assert explanation.status is ExplanationStatus.IN_USE
    held = explanation.reason(ReasonCode.HELD)
    assert held is not None
    assert held.facts["pid"] == server.pid
    assert held.facts["addresses"] == [host]
    assert held.facts["state"] == "LISTEN"
    assert held.facts["user"]  # this user's name, as the system says it
    assert f"(PID {server.pid})" in explanation.message
    assert ReasonCode.OUTSIDE_RANGE in codes(explanation)  # an OS-chosen port


def test_every_worker_of_a_pre_fork_server_is_a_reason(door: SyncPortManager) -> None:
    with spawn(FORKED) as server:
        explanation = door.explain(server.port)
    assert {r.facts["pid"] for r in explanation.reasons if r.code is ReasonCode.HELD} == (
        server.pids
    )


def test_only_a_time_wait_leftover(door: SyncPortManager) -> None:
    port = _time_wait_port()
    explanation = door.explain(port)
    assert explanation.status is ExplanationStatus.FREE  # SO_REUSEADDR binds over it
    leftover = explanation.reason(ReasonCode.TIME_WAIT)
    assert leftover is not None
    assert leftover.facts == {"state": "TIME_WAIT", "addresses": ["127.0.0.1"]}
    assert ReasonCode.HELD not in codes(explanation)


def test_an_allocated_port(door: SyncPortManager, span: PortRange) -> None:
    port = door.allocate(metadata={"app": "shop", "service": "api"}, owner_pid=os.getpid())
    explanation = door.explain(port)
    assert explanation.status is ExplanationStatus.ALLOCATED
    assert codes(explanation) == [ReasonCode.ALLOCATED]
    facts = explanation.reasons[0].facts
    assert (facts["app"], facts["worktree"], facts["service"]) == ("shop", None, "api")
    assert (facts["owner_pid"], facts["owner_alive"]) == (os.getpid(), True)
    assert 0 <= facts["age_seconds"] < 600
    assert facts["allocation"]["port"] == port
    assert "for app shop, service api" in explanation.reasons[0].message


def test_an_allocated_port_outside_the_default_range(door: SyncPortManager) -> None:
    """A named port from a manifest's range, or a reserved one: its allocation is the
    reason, not the default range it lies outside of (which only ``allocate`` obeys)."""
    start = free_block(2)
    port = door.allocate((start, start + 1), {"app": "shop", "service": "web"})
    assert codes(door.explain(port)) == [ReasonCode.ALLOCATED]
    outside = door.explain(start + 1)  # nobody's: allocate would never hand it out
    assert codes(outside) == [ReasonCode.OUTSIDE_RANGE]


async def test_the_async_door_says_the_same(registry_path: Path, span: PortRange) -> None:
    sync = SyncPortManager(registry_path, range=span)
    pm = PortManager(registry_path, range=span)
    port = await pm.allocate(metadata={"app": "shop"})
    with spawn(POLITE) as server:
        both = [await pm.explain(p) for p in (port, server.port)]
        expected = [await anyio.to_thread.run_sync(sync.explain, p) for p in (port, server.port)]
    for mine, theirs in zip(both, expected, strict=True):
        assert (mine.status, codes(mine), mine.message) == (
            theirs.status, codes(theirs), theirs.message
        )  # fmt: skip
    with pytest.raises(InvalidPortError):
        await pm.explain(0)


@pytest.fixture
def nobodys_registry() -> Iterator[Path]:
    """A registry folder the user nobody owns (the tests' own folders are closed to it)."""
    folder = Path(tempfile.mkdtemp(prefix="aioports-nobody-"))
    try:
        os.chown(folder, NOBODY, NOBODY)
        yield folder / "registry.json"
    finally:
        shutil.rmtree(folder)


@needs_root
def test_a_privileged_port_for_an_unprivileged_user(nobodys_registry: Path) -> None:
    done = as_nobody(nobodys_registry, "why", "80", "--json")
    assert done.exit_code == 0, done.stderr
    document = json.loads(done.stdout)
    validate("why", document)
    assert document["status"] == "denied"
    privileged = [r for r in document["reasons"] if r["code"] == "privileged"]
    assert privileged[0]["unprivileged_port_start"] > 80


def test_3659_is_browser_unsafe(door: SyncPortManager) -> None:
    explanation = door.explain(3659)
    unsafe = explanation.reason(ReasonCode.BROWSER_UNSAFE)
    assert unsafe is not None
    assert "ERR_UNSAFE_PORT" in unsafe.message
    assert explanation.status in (ExplanationStatus.FREE, ExplanationStatus.IN_USE)


@pytest.mark.skipif(ephemeral_range() is None, reason="no ephemeral range known here")
def test_a_port_of_the_ephemeral_range(door: SyncPortManager) -> None:
    span = ephemeral_range()
    assert span is not None
    with spawn(POLITE) as server:  # a port the OS chose: from the ephemeral range
        explanation = door.explain(server.port)
    ephemeral = explanation.reason(ReasonCode.EPHEMERAL)
    assert ephemeral is not None
    assert ephemeral.facts == {"range": span.to_dict()}


def test_why_for_people_and_json(cli: CliRunner, span: PortRange) -> None:
    cli("allocate", "--app", "shop")
    with spawn(POLITE, "::1") as server:
        human = cli("why", str(span.start), str(server.port))
        document = cli.json("why", "why", str(span.start), str(server.port))
    assert human.exit_code == 0
    lines = human.stdout.splitlines()
    assert lines[0] == (
        f"aioports: Port {span.start} is free to bind, but allocated in the registry: its "
        "server may start any moment."
    )
    assert lines[1].startswith("  - Allocated for app shop ")
    assert f"aioports: Port {server.port} is in use: held by " in human.stdout
    assert document["status"] == "mixed"
    assert [r["status"] for r in document["results"]] == ["allocated", "in_use"]
    one = cli.json("why", "why", str(span.start + 1))
    assert (one["status"], one["reasons"]) == ("free", [])


@pytest.mark.parametrize("bad", ["abc", "0", "70000", "-1"])
def test_why_refuses_a_bad_port(cli: CliRunner, bad: str) -> None:
    done = cli("why", bad, "--json")
    assert done.exit_code == 2
    assert done.json()["error"]["type"] in ("InvalidPortError", "UsageError")


# -- decide, from facts alone -------------------------------------------------------------


def _allocation(port: int, **changes: object) -> Allocation:
    values: dict[str, object] = {
        "port": port, "allocated_at": datetime(2026, 1, 1, tzinfo=UTC), "pid": 10
    }  # fmt: skip
    return Allocation(**(values | changes))  # type: ignore[arg-type]


def test_decide_a_privileged_port_and_a_dead_owner() -> None:
    now = datetime(2026, 1, 1, 2, tzinfo=UTC)
    allocation = _allocation(80, owner_pid=4242)
    facts = Facts(
        80, PortStatus.DENIED, allocation=allocation, owner_alive=False, now=now, root=False
    )
    explanation = decide(facts)
    assert explanation.status is ExplanationStatus.DENIED
    assert codes(explanation) == [ReasonCode.ALLOCATED, ReasonCode.PRIVILEGED]
    allocated = explanation.reasons[0]
    assert allocated.facts["owner_alive"] is False
    assert allocated.facts["age_seconds"] == timedelta(hours=2).total_seconds()
    assert "2 h ago" in allocated.message
    assert "owner PID 4242 (gone)" in allocated.message
    assert explanation.message == "Port 80 is denied: this user may not bind it."


def test_decide_root_may_bind_a_low_port_and_a_hidden_socket_table() -> None:
    explanation = decide(Facts(80, PortStatus.FREE, occupiers=None, root=True))
    assert (explanation.status, explanation.reasons) == (ExplanationStatus.FREE, ())
    busy = decide(Facts(5000, PortStatus.IN_USE, occupiers=None))
    assert busy.message == "Port 5000 is in use, by a socket the socket table does not show."


def test_decide_a_reserved_port_comes_with_the_other_hygiene_reasons() -> None:
    facts = Facts(
        6000, PortStatus.FREE, browser_unsafe=True, reserved=True, ephemeral=PortRange(10, 60999)
    )
    explanation = decide(facts)
    assert codes(explanation) == [
        ReasonCode.BROWSER_UNSAFE, ReasonCode.RESERVED, ReasonCode.EPHEMERAL
    ]  # fmt: skip
    assert explanation.status is ExplanationStatus.FREE  # advice: a server can still bind it
    validate("why", {"status": "free", **explanation.to_dict()})


def test_a_reason_as_json() -> None:
    reason = Reason(ReasonCode.OUTSIDE_RANGE, "outside", {"range": PortRange(1, 2)})
    assert reason.to_dict() == {
        "code": "outside_range", "range": {"start": 1, "end": 2}, "message": "outside"
    }  # fmt: skip
