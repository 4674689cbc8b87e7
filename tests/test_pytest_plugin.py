"""The pytest plugin, run for real: pytest -n 2 in subprocesses, and plain runs in this process
(pytester), on tiny shared ranges."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import anyio
import pytest
from blockbuster import BlockBuster
from helpers import free_block
from inner_pytest import run_suite
from processes import reap, run_python

from aioports import PortManager

# Every test holds two ports (one listening for real) while it sleeps, so workers overlap.
# A port handed to two holders at once makes a bind fail or the registry check below fail.
INNER_TESTS = textwrap.dedent(
    """
    import os, socket, time
    import anyio
    from aioports import PortManager

    def check_owned(port):
        allocations = anyio.run(PortManager().list_allocations)
        [mine] = [a for a in allocations if a.port == port]
        assert mine.owner_pid == os.getpid(), (port, mine)
        assert mine.metadata["pytest"].endswith(os.environ["PYTEST_CURRENT_TEST"].split(" ")[0])

    def record(port):
        with open(os.environ["PORTS_LOG"], "a") as log:
            log.write(f"{os.getpid()} {port}\\n")

    def check_earlier_tests_released(*current):
        # Ports this worker's earlier tests leased must be back in the pool by now.
        with open(os.environ["PORTS_LOG"], "a+") as log:
            log.seek(0)
            earlier = {int(p) for pid, p in map(str.split, log) if int(pid) == os.getpid()}
        allocations = anyio.run(PortManager().list_allocations)
        held = {a.port for a in allocations if a.owner_pid == os.getpid()}
        assert held & earlier <= set(current), (held, earlier, current)

    def hold(port, sock=None):
        if sock is None:
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
        with sock:
            sock.listen()
            time.sleep(0.05)

    def test_port_and_socket_{i}(aioports_port, aioports_socket):
        port2 = aioports_socket.getsockname()[1]
        assert port2 != aioports_port
        check_earlier_tests_released(aioports_port, port2)
        check_owned(aioports_port)
        check_owned(port2)
        record(aioports_port)
        record(port2)
        hold(aioports_port)
        hold(port2, aioports_socket)

    def test_factory_{i}(aioports_port_factory):
        ports = [aioports_port_factory(), aioports_port_factory(metadata={"role": "db"})]
        assert len(set(ports)) == 2
        check_earlier_tests_released(*ports)
        for port in ports:
            check_owned(port)
            record(port)
            hold(port)
    """
)

FAILING_TEST = textwrap.dedent(
    """
    def test_that_fails(aioports_port):
        assert aioports_port < 0
    """
)


def _suite(copies: int) -> dict[str, str]:
    """``copies`` files of :data:`INNER_TESTS` and one failing test: file name -> code."""
    files = {f"test_ports_{i}.py": INNER_TESTS.replace("{i}", str(i)) for i in range(copies)}
    return files | {"test_failing.py": FAILING_TEST}


def _write_suite(folder: Path, copies: int, ini_range: str) -> None:
    folder.mkdir(parents=True)
    (folder / "pytest.ini").write_text(
        f"[pytest]\naddopts = -p no:cacheprovider\naioports_range = {ini_range}\n"
    )
    for name, code in _suite(copies).items():
        (folder / name).write_text(code)


# Without assertion rewriting, which would rewrite every module of every installed plugin
# (anyio, aioports, xdist) in each of the run's processes: about half a second each where
# bytecode is not cached. The inner tests' asserts carry their own messages.
INNER_ARGS = ("-q", "--assert=plain")


def _pytest(folder: Path, env: dict[str, str], workers: int) -> subprocess.Popen[str]:
    """``pytest -n WORKERS`` in ``folder``, with only the plugins it uses."""
    plugins = ("-p", "aioports", "-p", "xdist")
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", *plugins, "-n", str(workers), *INNER_ARGS, str(folder)],
        cwd=folder,
        env={**os.environ, **env, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _finish(proc: subprocess.Popen[str]) -> str:
    out, _ = proc.communicate(timeout=180)
    assert proc.returncode == 1, out  # the one failing test, nothing else
    assert "1 failed" in out, out
    return out


def _registry_ports(registry: Path) -> list[int]:
    return [a.port for a in anyio.run(PortManager(registry).list_allocations)]


def test_xdist_workers_and_another_run_get_distinct_ports_and_release_them(
    tmp_path: Path,
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    no_blocking_calls_on_the_loop: BlockBuster,
) -> None:
    """Two runs at once (two worktrees) share one registry and one range of 6 ports: the two
    workers of ``pytest -n 2`` in processes of their own, and a plain run in this process
    (pytester's, started once the other run holds ports), each holding two ports per test:
    together they take the whole range. One run reads the range from its ini file, the other
    from ``$AIOPORTS_RANGE``."""
    start = free_block(6)
    span = f"{start}-{start + 5}"
    registry = tmp_path / "state" / "registry.json"
    logs = {name: tmp_path / f"{name}.log" for name in ("worktree-a", "worktree-b")}
    _write_suite(tmp_path / "worktree-a", copies=3, ini_range=span)
    xdist_run = _pytest(
        tmp_path / "worktree-a",
        {"AIOPORTS_REGISTRY": str(registry), "PORTS_LOG": str(logs["worktree-a"])},
        workers=2,
    )
    try:
        _wait_for_a_port(logs["worktree-a"], xdist_run)
        for name, value in {
            "AIOPORTS_REGISTRY": str(registry),
            "AIOPORTS_RANGE": span,
            "PORTS_LOG": str(logs["worktree-b"]),
        }.items():
            monkeypatch.setenv(name, value)
        plain_run = run_suite(pytester, no_blocking_calls_on_the_loop, _suite(copies=3))
        xdist_out = _finish(xdist_run)
    finally:
        reap(xdist_run)
    assert "6 passed" in xdist_out, xdist_out
    plain_run.assert_outcomes(passed=6, failed=1)  # the one failing test, nothing else
    for name, processes in (("worktree-a", 2), ("worktree-b", 1)):
        used = [line.split() for line in logs[name].read_text().splitlines()]
        assert len(used) == 12  # each run got its ports from its own source of the range
        assert {int(port) for _, port in used} <= set(range(start, start + 6))
        assert len({pid for pid, _ in used}) == processes
    assert _registry_ports(registry) == []


def _wait_for_a_port(log: Path, run: subprocess.Popen[str]) -> None:
    """Until a test of ``run`` has logged a port it holds."""
    deadline = time.monotonic() + 60
    while not (log.exists() and log.read_text()):
        assert run.poll() is None, "the run ended before it held a port"
        assert time.monotonic() < deadline, "the run held no port within 60 s"
        time.sleep(0.01)


ASYNC_TEST = textwrap.dedent(
    """
    import pytest

    @pytest.mark.anyio
    async def test_factory_inside_a_running_loop(aioports_port, aioports_port_factory):
        held = aioports_port_factory.lease(hold=True)
        ports = {aioports_port, aioports_port_factory(), held.port}
        assert len(ports) == 3
        assert held.socket is not None
    """
)


def test_fixtures_work_in_async_tests(
    tmp_path: Path,
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    no_blocking_calls_on_the_loop: BlockBuster,
) -> None:
    start = free_block(4)
    registry = tmp_path / "state" / "registry.json"
    monkeypatch.setenv("AIOPORTS_REGISTRY", str(registry))
    done = run_suite(
        pytester,
        no_blocking_calls_on_the_loop,
        {"test_async.py": ASYNC_TEST},
        ini=f"aioports_range = {start}-{start + 3}\n",
    )
    done.assert_outcomes(passed=1)
    assert _registry_ports(registry) == []


def test_importing_aioports_does_not_import_pytest() -> None:
    out = run_python("import sys, aioports; print('pytest' in sys.modules)")
    assert out.strip() == "False"
