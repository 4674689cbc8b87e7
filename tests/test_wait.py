"""Waiting for a port to be listened on, or to be free, with real servers in real processes."""

from __future__ import annotations

import contextlib
import math
import os
import pickle
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from cli_helpers import CliRunner, Executable, assert_usage_error, validate
from helpers import free_port
from processes import reap

import aioports
from aioports import (
    InvalidArgumentError,
    InvalidPortError,
    PortManager,
    ProcessGoneError,
    WaitResult,
    WaitTimeoutError,
)

# Listens on argv[1]:argv[2] after argv[3] seconds, from a forked grandchild if argv[4] == "1";
# prints the PID that listens once it does.
LATE_SERVER = textwrap.dedent(
    """
    import os, socket, sys, time
    host, port, delay, fork = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    if fork == "1" and os.fork() != 0:
        time.sleep(600)
        sys.exit()
    time.sleep(delay)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind((host, port))
    s.listen()
    print(os.getpid(), flush=True)
    time.sleep(600)
    """
)


@contextlib.contextmanager
def late_server(
    host: str, port: int, delay: float = 0.3, *, fork: bool = False
) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", LATE_SERVER, host, str(port), str(delay), "1" if fork else "0"],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its grandchild goes with the group at the end
    )
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 9)
        reap(proc)


def _listener_pid(proc: subprocess.Popen[str]) -> int:
    assert proc.stdout is not None
    return int(proc.stdout.readline())


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "0.0.0.0"])
async def test_waits_for_a_server_that_starts_late(manager: PortManager, host: str) -> None:
    port = free_port("::1" if ":" in host else "127.0.0.1")
    with late_server(host, port) as proc:
        result = await manager.wait_until_listening(port, timeout=30, interval=0.02)
        listener = _listener_pid(proc)
    assert isinstance(result, WaitResult)
    assert (result.port, result.condition, result.addresses) == (port, "listening", (host,))
    assert result.pids == (listener,)
    assert result.waited > 0


async def test_an_ipv6_only_server_is_seen(manager: PortManager) -> None:
    # What a connect() to 127.0.0.1 (or to a localhost resolving to it) never sees.
    port = free_port("::1")
    with late_server("::1", port, 0):
        result = await manager.wait_until_listening(port, timeout=30)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
    assert result.addresses == ("::1",)


async def test_a_server_that_never_starts_times_out(manager: PortManager) -> None:
    port = free_port()
    with pytest.raises(WaitTimeoutError) as caught:
        await manager.wait_until_listening(port, timeout=0.3, interval=0.05)
    error = caught.value
    assert isinstance(error, TimeoutError)
    assert (error.port, error.condition, error.timeout, error.pid) == (port, "listening", 0.3, None)
    assert str(error) == f"port {port} was not listening after 0.3 s"
    clone = pickle.loads(pickle.dumps(error))
    assert (clone.port, str(clone)) == (port, str(error))


async def test_pid_accepts_a_descendant(manager: PortManager) -> None:
    port = free_port()
    with late_server("127.0.0.1", port, 0.1, fork=True) as proc:
        result = await manager.wait_until_listening(port, timeout=30, pid=proc.pid, interval=0.02)
        grandchild = _listener_pid(proc)
    assert grandchild != proc.pid
    assert result.pids == (grandchild,)


async def test_pid_ignores_somebody_elses_listener(manager: PortManager) -> None:
    port = free_port()
    other = socket.create_server(("127.0.0.1", port))  # this process listens, not the child
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], text=True)
    try:
        with other, pytest.raises(WaitTimeoutError, match=f"by PID {sleeper.pid} or a desc"):
            await manager.wait_until_listening(port, timeout=0.3, pid=sleeper.pid)
        # Without a pid, the same listener counts.
        with socket.create_server(("127.0.0.1", port)):
            result = await manager.wait_until_listening(port, timeout=5)
        assert result.pids == (os.getpid(),)
    finally:
        reap(sleeper)


async def test_pid_that_exits_before_listening_ends_the_wait(manager: PortManager) -> None:
    quitter = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.2)"], text=True)
    try:
        with pytest.raises(ProcessGoneError, match="exited before it listened"):
            await manager.wait_until_listening(free_port(), timeout=30, pid=quitter.pid)
    finally:
        reap(quitter)


async def test_waits_until_a_port_is_free(manager: PortManager) -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    async def close_later() -> None:
        await anyio.sleep(0.2)
        server.close()

    async with anyio.create_task_group() as group:
        group.start_soon(close_later)
        result = await manager.wait_until_free(port, timeout=30, interval=0.02)
    assert (result.port, result.condition, result.pids, result.addresses) == (port, "free", (), ())


async def test_a_port_that_stays_busy_times_out(manager: PortManager) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        with pytest.raises(WaitTimeoutError, match=f"port {port} was still in use after 0.2 s"):
            await manager.wait_until_free(port, timeout=0.2, interval=0.05)


def test_the_sync_door_waits_too() -> None:
    with socket.create_server(("::1", 0), family=socket.AF_INET6) as server:
        port = server.getsockname()[1]
        result = aioports.wait_until_listening_sync(port, timeout=5, pid=os.getpid())
        assert (result.addresses, result.pids) == (("::1",), (os.getpid(),))
        with pytest.raises(WaitTimeoutError):
            aioports.wait_until_free_sync(port, timeout=0.1, interval=0.05)
    assert aioports.wait_until_free_sync(port, timeout=5).condition == "free"


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"port": 70000, "timeout": 1}, InvalidPortError),
        ({"port": 3000, "timeout": 0}, InvalidArgumentError),
        ({"port": 3000, "timeout": -1}, InvalidArgumentError),
        ({"port": 3000, "timeout": "abc"}, InvalidArgumentError),
        ({"port": 3000, "timeout": math.nan}, InvalidArgumentError),
        ({"port": 3000, "timeout": 1, "interval": 0}, InvalidArgumentError),
        ({"port": 3000, "timeout": 1, "pid": 0}, InvalidArgumentError),
    ],
)
async def test_bad_arguments(
    manager: PortManager, arguments: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        await manager.wait_until_listening(**arguments)  # type: ignore[arg-type]


# -- the command line -------------------------------------------------------------------


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    return CliRunner(monkeypatch, tmp_path / "registry.json")


def test_cli_waits_for_a_late_server(registry_path: Path) -> None:
    port = free_port("::1")
    with late_server("::1", port, 0.2) as proc:
        document = Executable(registry_path).json("wait", "wait", str(port), "--pid", str(proc.pid))
        listener = _listener_pid(proc)
    assert (document["status"], document["port"], document["addresses"]) == (
        "listening",
        port,
        ["::1"],
    )
    assert document["pids"] == [listener]


def test_cli_says_who_listens(cli: CliRunner) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        done = cli("wait", str(port), "--timeout", "5")
    assert done.exit_code == 0
    assert done.stdout.startswith(
        f"aioports: Port {port} is listening on 127.0.0.1 (PID {os.getpid()})"
    )
    assert done.stderr == ""


@pytest.mark.parametrize("json_mode", [False, True], ids=["human", "json"])
def test_cli_times_out_with_exit_1(cli: CliRunner, json_mode: bool) -> None:
    port = free_port()
    done = cli(
        "wait", str(port), "--timeout", "0.2", "--interval", "0.05", *(["--json"] * json_mode)
    )
    assert done.exit_code == 1
    if json_mode:
        document = done.json()
        validate("error", document)
        assert document["error"]["type"] == "WaitTimeoutError"
        assert document["error"]["port"] == port
        assert "not listening after 0.2 s" in document["error"]["message"]
    else:
        assert done.stderr == f"aioports: error: port {port} was not listening after 0.2 s\n"


def test_cli_free(cli: CliRunner) -> None:
    port = free_port()
    document = cli.json("wait", "wait", str(port), "--free")
    assert (document["status"], document["pids"]) == ("free", [])
    with socket.create_server(("127.0.0.1", port)):
        done = cli("wait", str(port), "--free", "--timeout", "0.1", "--json")
    assert done.exit_code == 1
    assert done.json()["error"]["condition"] == "free"


BAD_WAITS = [
    ["wait", "3000", "--timeout", "0"],
    ["wait", "3000", "--timeout", "-1"],
    ["wait", "3000", "--timeout", "abc"],
    ["wait", "3000", "--timeout", "nan"],
    ["wait", "3000", "--interval", "0"],
    ["wait", "70000"],
    ["wait", "0"],
    ["wait", "shop/web"],
    ["wait"],
    ["wait", "3000", "--pid", "abc"],
    ["wait", "3000", "--pid", "0"],
    ["wait", "3000", "--free", "--pid", "1"],
]


def test_a_zero_is_named_as_typed(cli: CliRunner) -> None:
    done = cli("wait", "3000", "--timeout", "0")
    assert done.stderr == (
        "aioports: error: --timeout must be a finite number of seconds > 0, got '0'\n"
    )
    error = cli.json("error", "wait", "3000", "--interval=0.0", code=2)["error"]
    assert (error["type"], error["value"]) == ("InvalidArgumentError", 0.0)
    assert error["message"].endswith("got '0.0'")


@pytest.mark.parametrize("json_mode", [False, True], ids=["human", "json"])
def test_cli_bad_input_exits_2(cli: CliRunner, json_mode: bool) -> None:
    suffix = ["--json"] if json_mode else []
    for args, done in zip(BAD_WAITS, cli.many([run + suffix for run in BAD_WAITS]), strict=True):
        assert_usage_error(args, done, json_mode=json_mode)


def test_cli_pid_of_no_process_exits_2(cli: CliRunner) -> None:
    from processes import exited_pid

    done = cli("wait", "3000", "--pid", str(exited_pid()))
    assert done.exit_code == 2
    assert "no such process" in done.stderr
