"""detect_occupier(s) and kill_occupier against real listener processes on loopback."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import anyio
import anyio.to_thread
import forked
import psutil
import pytest
from helpers import bindable, free_port
from processes import (
    FORKED,
    GRACEFUL,
    NEGLECTFUL,
    POLITE,
    STUBBORN,
    alive,
    exited_pid,
    listener_process,
    spawn,
)

import aioports._takeover
from aioports import (
    AioportsError,
    DenialReason,
    InvalidPortError,
    KillOutcome,
    KillResult,
    Occupier,
    PermissionDeniedError,
    PortManager,
    ProcessGoneError,
)
from aioports._identity import (
    ProcessIdentity,
    is_gone,
    map_psutil_error,
    process_identity,
    send_signal,
)
from aioports._occupier import identity_of, occupiers_by_port, refusal
from aioports._records import replace
from aioports._sockets import netlink_table, psutil_table
from aioports._takeover import FIRST_PAUSE, next_pause

HOSTS = ["127.0.0.1", "::1"]
BAD_PORTS = [0, -1, 70000, "abc", 3.5, True, None]


@pytest.fixture
def bystander() -> Iterator[int]:
    """A listener no test may signal: checked alive after each kill."""
    with listener_process() as (pid, _port):
        yield pid


# -- detection ------------------------------------------------------------------------


@pytest.mark.parametrize("host", HOSTS)
async def test_detects_the_listener_with_its_identity(manager: PortManager, host: str) -> None:
    with spawn(POLITE, host) as child:
        occupier = await manager.detect_occupier(child.port)
        proc = psutil.Process(child.pid)
        name, cmdline, username = proc.name(), proc.cmdline(), proc.username()
        identity = await anyio.to_thread.run_sync(process_identity, child.pid)
    assert occupier is not None
    assert occupier.pid == child.pid
    assert occupier.port == child.port
    assert occupier.process_name == name
    assert occupier.cmdline == tuple(cmdline)
    assert occupier.username == username
    assert occupier.uid == os.getuid()
    assert occupier.create_time == pytest.approx(proc.create_time())
    assert occupier.addresses == (host,)
    assert occupier.status == "LISTEN"
    assert occupier.start_token == identity.token
    assert identity_of(occupier) == identity
    assert "start_token" not in occupier.to_dict()


async def test_the_holder_names_its_ancestors(manager: PortManager) -> None:
    with spawn(POLITE) as child:
        occupier = await manager.detect_occupier(child.port)
        ancestors = [parent.pid for parent in psutil.Process(child.pid).parents()]
    assert occupier is not None
    assert occupier.pid == child.pid
    assert occupier.parent_pids == tuple(ancestors[: len(occupier.parent_pids)])
    assert os.getpid() in occupier.parent_pids  # this test, through the zygote that forked it
    assert occupier.to_dict()["parent_pids"] == list(occupier.parent_pids)


async def test_nothing_holds_a_free_port(manager: PortManager) -> None:
    port = free_port()
    assert await manager.detect_occupier(port) is None
    assert await manager.detect_occupiers(port) == []


async def test_every_process_of_a_forked_server_is_found(manager: PortManager) -> None:
    with spawn(FORKED) as child:
        occupiers = await manager.detect_occupiers(child.port)
    assert {o.pid for o in occupiers} == child.pids
    assert all(o.status == "LISTEN" for o in occupiers)


async def test_dual_stack_listener_reports_both_addresses(manager: PortManager) -> None:
    with socket.socket() as v4, socket.socket(socket.AF_INET6) as v6:
        v4.bind(("127.0.0.1", 0))
        port = v4.getsockname()[1]
        v6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        v6.bind(("::1", port))
        v4.listen()
        v6.listen()
        occupier = await manager.detect_occupier(port)
    assert occupier is not None
    assert occupier.pid == os.getpid()
    assert occupier.addresses == ("127.0.0.1", "::1")


async def test_a_time_wait_leftover_is_reported_without_a_pid(manager: PortManager) -> None:
    port = _time_wait_port()
    occupiers = await manager.detect_occupiers(port)
    assert [(o.pid, o.status) for o in occupiers] == [(None, "TIME_WAIT")]
    result = await manager.kill_occupier(port)
    assert result.outcome is KillOutcome.NO_HOLDER
    assert not result.killed
    assert result.signal is None
    assert "nothing to kill" in result.message
    assert result.port_free


async def test_nothing_to_kill_on_a_free_port(manager: PortManager) -> None:
    result = await manager.kill_occupier(free_port())
    assert (result.outcome, result.killed, result.pid, result.signal, result.port_free) == (
        KillOutcome.NO_HOLDER, False, None, None, True
    )  # fmt: skip


def _time_wait_port() -> int:
    """A port whose only socket is in TIME_WAIT: the accepting side closes first."""
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        server.listen()
        port: int = server.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = server.accept()
        accepted.close()
        client.recv(1)  # wait for the FIN, so that our close ends the exchange
        client.close()
    return port


def test_one_snapshot_answers_for_many_ports() -> None:
    free = free_port()
    with spawn(POLITE) as one, spawn(POLITE, "::1") as two:
        table = occupiers_by_port([one.port, two.port, free])
    assert set(table) == {one.port, two.port, free}
    assert [o.pid for o in table[one.port]] == [one.pid]
    assert [o.pid for o in table[two.port]] == [two.pid]
    assert table[free] == []


async def test_many_ports_at_once_through_the_manager(manager: PortManager) -> None:
    free = free_port()
    with spawn(POLITE) as one, spawn(FORKED, "::1") as two:
        table = await manager.detect_occupiers_by_port([one.port, two.port, free])
        forked = await manager.detect_occupiers(two.port)
    assert set(table) == {one.port, two.port, free}
    assert [o.pid for o in table[one.port]] == [one.pid]
    assert table[two.port] == forked
    assert len(forked) > 1
    assert table[free] == []
    with pytest.raises(InvalidPortError):
        await manager.detect_occupiers_by_port([free, 0])


def test_the_portable_path_agrees_with_netlink() -> None:
    with spawn(FORKED) as child:
        fast = netlink_table([child.port])
        portable = psutil_table([child.port])
    assert {(e.address, e.status) for e in fast} == {(e.address, e.status) for e in portable}
    assert {pid for e in fast for pid in e.pids} == child.pids
    # On Linux psutil names one holder per socket; the netlink path finds them all.
    assert {pid for e in portable for pid in e.pids} <= child.pids


# -- killing ----------------------------------------------------------------------------


@pytest.mark.parametrize("host", HOSTS)
async def test_kills_a_polite_listener_and_frees_the_port(
    manager: PortManager, host: str, bystander: int
) -> None:
    with spawn(POLITE, host) as child, anyio.fail_after(30):
        # Returns once the port is free, long before a grace period this long.
        result = await manager.kill_occupier(child.port, timeout=3600)
        assert result.killed, result.message
        assert result.outcome is KillOutcome.KILLED
        assert result.to_dict()["outcome"] == "killed"
        assert (result.pid, result.pids, result.signal) == (child.pid, (child.pid,), "SIGTERM")
        assert result.port_free
        assert bindable(child.port)
        assert not alive(child.pid)
    assert alive(bystander)


async def test_force_sends_sigkill(manager: PortManager) -> None:
    with spawn(STUBBORN) as child:
        result = await manager.kill_occupier(child.port, force=True)
        assert result.killed
        assert result.signal == "SIGKILL"
        assert bindable(child.port)


async def test_a_sigterm_ignorer_is_reported_alive(manager: PortManager) -> None:
    with spawn(STUBBORN) as child:
        result = await manager.kill_occupier(child.port, timeout=0.3)
        assert result.outcome is KillOutcome.SURVIVED
        assert not result.killed
        assert not result.port_free
        assert alive(child.pid)
        assert "did not exit within 0.3 s of SIGTERM" in result.message
        assert "escalate=True" in result.message


async def test_escalate_follows_an_ignored_sigterm_with_sigkill(manager: PortManager) -> None:
    with spawn(STUBBORN) as child:
        result = await manager.kill_occupier(child.port, timeout=0.3, escalate=True)
        assert result.outcome is KillOutcome.KILLED
        assert result.killed
        assert result.escalated
        assert result.signal == "SIGKILL"
        assert bindable(child.port)


async def test_killing_a_forked_server_stops_every_worker(
    manager: PortManager, bystander: int
) -> None:
    with spawn(FORKED) as child:
        result = await manager.kill_occupier(child.port)
        assert result.killed, result.message
        assert set(result.pids) == child.pids
        assert bindable(child.port)
        assert not any(alive(pid) for pid in child.pids)
    assert alive(bystander)


async def test_a_process_that_shuts_down_by_itself_counts(manager: PortManager) -> None:
    with spawn(GRACEFUL) as child:
        result = await manager.kill_occupier(child.port)
        assert result.killed, result.message
        assert bindable(child.port)


async def test_a_zombie_counts_as_dead(manager: PortManager) -> None:
    with spawn(NEGLECTFUL) as parent:
        (worker,) = parent.forked
        result = await manager.kill_occupier(parent.port)
        assert result.killed, result.message
        assert result.outcome is KillOutcome.KILLED
        assert result.pid == worker
        assert psutil.Process(worker).status() == psutil.STATUS_ZOMBIE
        assert bindable(parent.port)
        assert alive(parent.pid)


async def test_a_holder_that_exits_before_the_signal(
    manager: PortManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The holder exiting between detection and signal is a race no test can time; force the
    # interleaving: the test ends its own child first, then the real check and signal run.
    with spawn(POLITE) as child:

        def exit_first(identity: ProcessIdentity, *, force: bool) -> bool:
            proc = psutil.Process(child.pid)
            proc.kill()
            proc.wait(timeout=10)
            return send_signal(identity, force=force)

        monkeypatch.setattr(aioports._takeover, "send_signal", exit_first)
        result = await manager.kill_occupier(child.port)
    assert result.outcome is KillOutcome.EXITED_FIRST
    assert (result.killed, result.pid, result.signal) == (False, child.pid, None)
    assert "exited before it was signalled" in result.message


def test_a_vanished_process_is_not_signalled() -> None:
    pid = exited_pid()
    gone = ProcessIdentity(pid, 0.0, None)
    assert not send_signal(gone, force=True)
    assert is_gone(gone)


def test_a_recycled_pid_is_not_signalled() -> None:
    with spawn(POLITE) as child:
        started = psutil.Process(child.pid).create_time()
        impostor = ProcessIdentity(child.pid, started - 5, None)
        assert not send_signal(impostor, force=True)
        assert is_gone(impostor)
        assert alive(child.pid)


async def test_refuses_to_kill_its_own_process(manager: PortManager) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        with pytest.raises(PermissionDeniedError, match="it is this process") as caught:
            await manager.kill_occupier(sock.getsockname()[1], force=True)
    assert caught.value.pid == os.getpid()
    assert caught.value.reason is DenialReason.PROTECTED_PROCESS


# Where pytest itself is PID 1 (a container's entry point), or its parent is (a process that
# init adopted), "self" or "parent" is the init process too, and the refusal says that first.
_PYTEST_IS_INIT = pytest.mark.skipif(os.getpid() == 1, reason="pytest runs as PID 1")
_PARENT_IS_INIT = pytest.mark.skipif(os.getppid() == 1, reason="pytest's parent is PID 1")


@pytest.mark.parametrize(
    ("pid", "reason"),
    [
        pytest.param(1, "PID 1 is the init process", id="init"),
        pytest.param(os.getpid(), "it is this process", id="self", marks=_PYTEST_IS_INIT),
        pytest.param(os.getppid(), "this process's parent", id="parent", marks=_PARENT_IS_INIT),
    ],  # ids, not the PIDs: xdist workers must agree on test ids
)
def test_refused_targets(pid: int, reason: str) -> None:
    target = Occupier(pid=pid, process_name="x", port=1, uid=os.getuid())
    denied = refusal(target, allow_other_users=True)
    assert denied is not None
    assert reason in str(denied)
    assert (denied.pid, denied.reason) == (pid, DenialReason.PROTECTED_PROCESS)


# A process-group leader that is neither us nor our parent: the leader double-forks, so the
# grandchild asking is in its group but is not its child.
GROUP_LEADER_ASKS = """
import os, sys
from aioports import Occupier
from aioports._occupier import refusal
os.setpgid(0, 0)
leader = os.getpid()
read, write = os.pipe()
if os.fork() == 0:
    if os.fork() == 0:
        os.close(read)
        target = Occupier(pid=leader, process_name="x", port=1, uid=os.getuid())
        denied = refusal(target)
        os.write(write, (f"{denied.reason}: {denied}" if denied else "allowed").encode())
        os._exit(0)
    os._exit(0)
os.close(write)
os.wait()
print(os.read(read, 4096).decode())
"""


def test_refuses_its_own_process_group_leader() -> None:
    said = forked.run(GROUP_LEADER_ASKS)
    assert said.startswith("protected_process: ")
    assert "leads this process's process group" in said


def test_a_process_whose_start_time_is_unknown_is_refused() -> None:
    unpinned = Occupier(pid=99999, process_name="x", port=1, uid=os.getuid())
    denied = refusal(unpinned)
    assert denied is not None
    assert "start time is unreadable" in str(denied)
    assert denied.reason is DenialReason.UNKNOWN_START
    assert refusal(replace(unpinned, create_time=1.0)) is None


def test_another_users_process_is_refused_unless_allowed() -> None:
    other = Occupier(
        pid=99999, process_name="x", port=1, uid=os.getuid() + 1, username="bob", create_time=1.0
    )
    denied = refusal(other)
    assert denied is not None
    assert "belongs to user bob" in str(denied)
    assert denied.reason is DenialReason.OTHER_USER
    root_may = refusal(other, allow_other_users=True)
    assert (root_may is None) == (os.geteuid() == 0)
    assert root_may is None or root_may.reason is DenialReason.OTHER_USER


def test_a_hidden_holder_is_refused_as_hidden() -> None:
    hidden = Occupier(pid=None, process_name=None, port=1, uid=0)
    denied = refusal(hidden)
    assert denied is not None
    assert "cannot see (uid 0)" in str(denied)
    assert (denied.pid, denied.reason) == (None, DenialReason.HIDDEN_PROCESS)


@pytest.mark.parametrize("port", BAD_PORTS)
async def test_bad_ports_are_typed_errors(manager: PortManager, port: object) -> None:
    for call in (manager.detect_occupier, manager.detect_occupiers, manager.kill_occupier):
        with pytest.raises(InvalidPortError):
            await call(port)  # type: ignore[arg-type]


@pytest.mark.parametrize("grace", [-1, float("nan"), float("inf"), "3", None, True])
async def test_bad_timeouts_are_rejected(manager: PortManager, grace: object) -> None:
    with pytest.raises(ValueError, match="timeout"):
        await manager.kill_occupier(free_port(), timeout=grace)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout"):
        await manager.reserve(free_port(), timeout=grace)  # type: ignore[arg-type]


def _psutil_errors(cls: type[psutil.Error] = psutil.Error) -> Iterator[type[psutil.Error]]:
    yield cls
    for sub in cls.__subclasses__():
        yield from _psutil_errors(sub)


@pytest.mark.parametrize("cls", list(_psutil_errors()), ids=lambda c: c.__name__)
def test_every_psutil_error_is_mapped(cls: type[psutil.Error]) -> None:
    raw = cls.__new__(cls)
    psutil.Error.__init__(raw)
    mapped = map_psutil_error(raw, pid=42)
    assert isinstance(mapped, AioportsError)
    assert not isinstance(mapped, psutil.Error)
    if issubclass(cls, psutil.NoSuchProcess):
        assert isinstance(mapped, ProcessGoneError)
    if issubclass(cls, psutil.AccessDenied):
        assert isinstance(mapped, PermissionDeniedError)
        assert isinstance(mapped, PermissionError)
        assert mapped.reason is DenialReason.OS_REFUSED


def test_kill_result_to_dict() -> None:
    occupier = Occupier(pid=7, process_name="node", port=3000)
    result = KillResult(
        killed=True, port=3000, pid=7, pids=(7,), occupiers=(occupier,), outcome=KillOutcome.KILLED
    )
    data = result.to_dict()
    assert data["outcome"] == "killed"
    assert data["killed"] is True
    assert data["pids"] == [7]
    assert data["occupiers"] == [occupier.to_dict()]


def test_waiting_for_an_exit_looks_often_at_first_and_never_more_than_a_tenth_late() -> None:
    # A polite holder is seen a few milliseconds after it exits; one that takes seconds is
    # seen at most 10% late; waiting out the 3 s default grace takes about 40 looks (at a
    # fixed 20 ms, 150: each a worker-thread round trip and a look at every process).
    waited, pause, looks = 0.0, FIRST_PAUSE, 0
    first: list[float] = []
    while waited < 3.0:
        assert pause <= max(0.02, waited * 0.1) + 1e-12, (waited, pause)
        if len(first) < 7:
            first.append(pause)
        waited += pause
        looks += 1
        pause = next_pause(pause, waited)
    assert first == [0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.02]
    assert 30 <= looks <= 50
