"""An MCP round trip against a command-line run: ``probe`` of one port through the MCP SDK's
client, the session to ``aioports mcp`` already open, against ``aioports probe PORT --json``
started as a process, the sides interleaved round by round. Also what opening a session
costs (start ``aioports mcp``, initialize, close), which an agent pays once per session.

Needs the mcp extra (``pip install -e '.[mcp]'``). The registry holds 200 entries.

Run: python benchmarks/bench_mcp.py [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

import anyio
from _common import Sample, console_script, environment, filled_registry, print_table
from mcp import ClientSession, StdioServerParameters, stdio_client

ENTRIES = 200


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=30)
    rounds: int = parser.parse_args().rounds
    aioports = console_script()
    print(environment())
    with tempfile.TemporaryDirectory() as folder:
        registry = Path(folder) / "registry.json"
        start, span = filled_registry(registry, ENTRIES)
        port = start + ENTRIES  # free, in the range
        env = {"AIOPORTS_REGISTRY": str(registry), "AIOPORTS_RANGE": span}
        params = StdioServerParameters(command=aioports, args=["mcp"], env=env)
        samples = anyio.run(_measure, aioports, params, env, port, rounds)
    trip, process, opened = samples
    print_table(
        "probe of one port: an MCP round trip against a process (baseline: the process)",
        [(process, None), (trip, process), (opened, process)],
    )


async def _measure(
    aioports: str, params: StdioServerParameters, env: dict[str, str], port: int, rounds: int
) -> tuple[Sample, Sample, Sample]:
    trips: list[float] = []
    runs: list[float] = []
    every = os.environ | env
    with open(os.devnull, "w") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            for round_ in range(rounds + 2):  # two warm-up rounds
                began = time.perf_counter()
                result = await session.call_tool("probe", {"port": port})
                took = time.perf_counter() - began
                assert not result.is_error, result
                began = time.perf_counter()
                # The baseline is a blocking child by design: nothing else runs meanwhile.
                subprocess.run(
                    [aioports, "probe", str(port), "--json"], env=every,
                    capture_output=True, check=True,
                )  # fmt: skip
                if round_ >= 2:
                    trips.append(took)
                    runs.append(time.perf_counter() - began)
        opens: list[float] = []
        for _ in range(max(3, rounds // 5)):
            began = time.perf_counter()
            async with (
                stdio_client(params, errlog=errlog) as (read, write),
                ClientSession(read, write) as session,
            ):
                await session.initialize()
            opens.append(time.perf_counter() - began)
    return (
        Sample("MCP call_tool probe (session open)", tuple(trips)),
        Sample("aioports probe PORT --json (a process)", tuple(runs)),
        Sample("open + initialize + close an MCP session", tuple(opens)),
    )


if __name__ == "__main__":
    main()
