"""probe(), scan() and allocate() against the ground truth: can asyncio.start_server (wildcard
host, default reuse_address) start on the port while the scenario's sockets are still open?"""

from __future__ import annotations

import asyncio

import pytest
from helpers import free_block
from scan_scenarios import SCENARIOS, Scenario

from aioports import NoFreePortError, PortManager

# What the kernel answered on the machines this was written on; the test's real claim is that
# aioports agrees with start_server, and these keep the scenarios honest (both answers occur).
EXPECTED_FREE = {
    "free": True,
    "listener 127.0.0.1": False,
    "listener ::1 only": False,
    "IPv6-only listener on ::": False,
    "bound, not listening": False,
    "bound, not listening, SO_REUSEADDR": True,
    "TIME_WAIT after a listener": False,
    "TIME_WAIT after a listener, SO_REUSEADDR": True,
    "SO_REUSEPORT listener": False,
    "outgoing connection from the port": False,
}


async def server_could_start(port: int) -> bool:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    try:
        server = await asyncio.start_server(serve, host=None, port=port)
    except OSError:
        return False
    server.close()
    await server.wait_closed()
    return True


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_aioports_agrees_with_start_server(manager: PortManager, name: str) -> None:
    scenario: Scenario = SCENARIOS[name]
    start = free_block(2)
    port = start + 1
    with scenario(port):
        probed_free = not (await manager.probe(port)).in_use
        scanned_free = (await manager.scan((port, port), concurrency=1)).free == 1
        # concurrency=2 over two ports hands ``port`` to a worker process.
        by_worker = await manager.scan((start, port), concurrency=2)
        worker_free = port not in {r.port for r in by_worker.in_use}
        iterated = [r async for r in manager.iter_scan((port, port))]
        try:
            allocated_free = await manager.allocate((port, port)) == port
        except NoFreePortError:
            allocated_free = False
        truth = await server_could_start(port)
    answers = {
        "probe": probed_free,
        "scan": scanned_free,
        "scan by a worker": worker_free,
        "iter_scan": not iterated[0].in_use,
        "allocate": allocated_free,
    }
    assert answers == dict.fromkeys(answers, truth)
    assert truth is EXPECTED_FREE[name]
