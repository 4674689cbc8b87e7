"""The README's handoff recipes, run for real: each server starts on the socket aioports bound."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import anyio
import anyio.abc
import pytest
from helpers import free_block
from processes import listener_process, reap

import aioports
from aioports import PortManager


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(await reader.readline())
    await writer.drain()
    writer.close()
    await writer.wait_closed()


async def _ask(port: int) -> bytes:
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        await stream.send(b"ping\n")
        return await stream.receive()


@pytest.mark.parametrize("listen_first", [False, True])
async def test_asyncio_start_server_on_the_held_socket(
    manager: PortManager, listen_first: bool
) -> None:
    start = free_block(1)
    async with manager.lease((start, start), hold=True) as lease:
        sock = lease.listen() if listen_first else lease.socket
        server = await asyncio.start_server(_echo, sock=sock)
        async with server:
            assert await _ask(lease.port) == b"ping\n"
        assert lease.socket is None  # the server closed it
    assert await manager.list_allocations() == []


async def test_anyio_listener_over_the_held_socket(manager: PortManager) -> None:
    start = free_block(1)
    async with manager.lease((start, start), hold=True) as lease:
        listener = await anyio.abc.SocketListener.from_socket(lease.listen())

        async def serve(stream: anyio.abc.SocketStream) -> None:
            async with stream:
                await stream.send(await stream.receive())

        async with listener, anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, serve)
            assert await _ask(lease.port) == b"ping\n"
            tg.cancel_scope.cancel()
    assert await manager.list_allocations() == []


async def test_close_socket_right_before_a_child_binds(manager: PortManager) -> None:
    start = free_block(1)
    async with manager.lease((start, start), hold=True) as lease:
        lease.close_socket()
        with listener_process("127.0.0.1", lease.port) as (_, port):
            assert port == lease.port
            # The allocation still keeps every aioports user off the port.
            assert [a.port for a in await manager.list_allocations()] == [port]


APP = textwrap.dedent(
    """
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"hello from uvicorn"})
    """
)


def _get(url: str, deadline: float) -> bytes:
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                body: bytes = response.read()
                return body
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_uvicorn_serves_on_the_inherited_socket(tmp_path: Path, registry_path: Path) -> None:
    pytest.importorskip("uvicorn")
    (tmp_path / "hello_app.py").write_text(APP)
    start = free_block(1)
    with aioports.lease_sync((start, start), hold=True, registry_path=registry_path) as lease:
        fd = lease.listen().fileno()
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--fd", str(fd), "--app-dir", str(tmp_path),
             "--log-level", "warning", "hello_app:app"],
            pass_fds=[fd],
            text=True,
        )  # fmt: skip
        try:
            lease.close_socket()  # the child has its own copy now
            body = _get(f"http://127.0.0.1:{lease.port}/", time.monotonic() + 30)
            assert body == b"hello from uvicorn"
        finally:
            reap(proc)
    assert anyio.run(PortManager(registry_path).list_allocations) == []
