"""Restarts keep their port: TIME_WAIT leftovers move no lease, held socket or fixture, while
a held socket still keeps rival servers off its port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import forked
import pytest
from blockbuster import BlockBuster
from helpers import free_block
from inner_pytest import run_suite
from processes import reap
from scan_scenarios import time_wait

import aioports
from aioports import PortManager

LOOPBACK = ("--bind", "127.0.0.1")
LINUX = pytest.mark.skipif(sys.platform != "linux", reason="the socket rules measured on Linux")

# The README's async recipe, with a server that hangs up first (HTTP/1.0 style) and one client.
README_RECIPE = textwrap.dedent(
    """
    import asyncio

    from aioports import PortManager


    async def main() -> None:
        async with PortManager().lease(hold=True) as lease:
            server = await asyncio.start_server(lambda r, w: w.close(), sock=lease.listen())
            async with server:
                reader, writer = await asyncio.open_connection("127.0.0.1", lease.port)
                assert await reader.read() == b""
                writer.close()
                await writer.wait_closed()
                print(lease.port)


    asyncio.run(main())
    """
)


def _env(tmp_path: Path, start: int, size: int) -> dict[str, str]:
    return {
        "AIOPORTS_REGISTRY": str(tmp_path / "state" / "registry.json"),
        "AIOPORTS_RANGE": f"{start}-{start + size - 1}",
    }


def _has_time_wait(port: int) -> bool:
    from aioports._sockets import socket_table

    return any(entry.status == "TIME_WAIT" for entry in socket_table((port,)))


@LINUX
def test_the_readme_recipe_restarted_three_times_keeps_its_port(tmp_path: Path) -> None:
    start = free_block(10)
    env = _env(tmp_path, start, 10)
    ports = [int(forked.run(README_RECIPE, env={**os.environ, **env})) for _ in range(3)]
    assert ports == [start] * 3
    assert _has_time_wait(start)  # the case is real: every run left TIME_WAIT behind


@LINUX
def test_a_child_server_restarted_keeps_its_port(tmp_path: Path) -> None:
    """The dev-servers guide's recipe: lease, close the socket, start ``http.server``."""
    start = free_block(10)
    registry = tmp_path / "state" / "registry.json"
    ports = []
    for _ in range(3):
        with aioports.lease_sync((start, start + 9), hold=True, registry_path=registry) as lease:
            lease.close_socket()
            ports.append(lease.port)
            server = subprocess.Popen(
                [sys.executable, "-u", "-m", "http.server", str(lease.port), *LOOPBACK],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            try:
                assert server.stdout is not None
                assert "Serving HTTP" in server.stdout.readline()
                with urllib.request.urlopen(f"http://127.0.0.1:{lease.port}/", timeout=10) as r:
                    assert r.status == 200
            finally:
                reap(server)
    assert ports == [start] * 3


SOCKET_TESTS = textwrap.dedent(
    """
    import socket

    def check(aioports_socket):
        aioports_socket.listen()
        port = aioports_socket.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as client:
            accepted, _ = aioports_socket.accept()
            accepted.close()  # the server hangs up first: TIME_WAIT on the leased port
            assert client.recv(1) == b""
    """
) + "".join(f"\ndef test_{i}(aioports_socket):\n    check(aioports_socket)\n" for i in range(30))


@LINUX
def test_thirty_socket_fixtures_on_ten_ports(
    tmp_path: Path,
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    no_blocking_calls_on_the_loop: BlockBuster,
) -> None:
    start = free_block(10)
    for key, value in _env(tmp_path, start, 10).items():
        monkeypatch.setenv(key, value)
    done = run_suite(
        pytester,
        no_blocking_calls_on_the_loop,
        {"test_sockets.py": SOCKET_TESTS},
        ini=f"aioports_range = {start}-{start + 9}\n",
    )
    done.assert_outcomes(passed=30)
    assert "NoFreePortError" not in done.stdout.str()


@pytest.fixture
def left_in_time_wait() -> Iterator[int]:
    """A port whose only sockets are the TIME_WAIT leftovers of a ``SO_REUSEADDR`` server."""
    port = free_block(1)
    with time_wait(port, reuse=True):
        yield port


def _rival(family: socket.AddressFamily, host: str, port: int, *, reuse: bool) -> bool:
    """Whether a server binding ``host`` (as asyncio does, or without SO_REUSEADDR) can
    listen on ``port``."""
    with socket.socket(family, socket.SOCK_STREAM) as rival:
        if reuse:
            rival.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            rival.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)  # dual-stack ::
        try:
            rival.bind((host, port))
            rival.listen()
        except OSError:
            return False
    return True


RIVALS = [
    pytest.param(socket.AF_INET, "127.0.0.1", True, id="same-address"),
    pytest.param(socket.AF_INET, "127.0.0.1", False, id="same-address-no-reuseaddr"),
    pytest.param(socket.AF_INET, "0.0.0.0", True, id="wildcard"),
    pytest.param(socket.AF_INET6, "::", True, id="dual-stack"),
]


@LINUX
@pytest.mark.parametrize("leftovers", [False, True], ids=["fresh", "time-wait"])
@pytest.mark.parametrize(("family", "host", "reuse"), RIVALS)
def test_a_held_socket_keeps_rivals_off(
    registry_path: Path,
    left_in_time_wait: int,
    leftovers: bool,
    family: socket.AddressFamily,
    host: str,
    reuse: bool,
) -> None:
    port = left_in_time_wait if leftovers else free_block(1)
    assert _has_time_wait(port) is leftovers
    with aioports.lease_sync((port, port), hold=True, registry_path=registry_path) as lease:
        assert lease.port == port
        assert not _rival(family, host, port, reuse=reuse)
        lease.listen()  # and the held socket itself still listens
        assert not _rival(family, host, port, reuse=reuse)


@LINUX
async def test_leftovers_of_a_listener_without_reuseaddr_move_the_lease(
    manager: PortManager,
) -> None:
    # The case that remains: no SO_REUSEADDR server could start there either, so the probe
    # calls it busy and the search moves on.
    start = free_block(2)
    with time_wait(start, reuse=False):
        assert (await manager.probe(start)).in_use
        async with manager.lease((start, start + 1), hold=True) as lease:
            assert lease.port == start + 1


@LINUX
async def test_probe_counts_time_wait_leftovers_as_free(
    manager: PortManager, left_in_time_wait: int
) -> None:
    assert not (await manager.probe(left_in_time_wait)).in_use
    async with manager.lease((left_in_time_wait, left_in_time_wait), hold=True) as lease:
        assert lease.port == left_in_time_wait
