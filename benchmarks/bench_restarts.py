"""Restarts keep their port: which socket options give both "a TIME_WAIT leftover does not move
the port" and "a held socket keeps rival servers off it".

Part 1, the options: for each way of binding the held socket (without ``SO_REUSEADDR``, with
it, with it and cleared after the bind), on a fresh port and on one with the TIME_WAIT
leftovers of a server with and without ``SO_REUSEADDR``: does the bind succeed, does each kind
of rival server get to listen while the socket is held, and does the held socket's own
``listen()`` work as it is and with ``SO_REUSEADDR`` set again.

Part 2, restarts: the README's recipe (``lease(hold=True)`` + ``asyncio.start_server(sock=
lease.listen())``) with a server that closes each connection first (HTTP/1.0 style), run N
times in a row with one client each; the distinct ports it got, and the time per restart. The
same with the old exclusive bind (``SO_REUSEADDR`` never on at bind time) for comparison.

Run: python benchmarks/bench_restarts.py [--restarts N]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _common import Sample, environment, free_start, print_table

import aioports._held_socket as held_socket
from aioports import PortManager

SOL, REUSE = socket.SOL_SOCKET, socket.SO_REUSEADDR


def leave_time_wait(port: int, *, reuse: bool) -> None:
    """One connection to a listener on ``port`` that the server side closes first."""
    with socket.socket() as server:
        server.setsockopt(SOL, REUSE, int(reuse))
        server.bind(("127.0.0.1", port))
        server.listen()
        with socket.create_connection(("127.0.0.1", port)) as client:
            accepted, _ = server.accept()
            accepted.close()
            client.recv(1)


def bind_plain(port: int) -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", port))
    return sock


def bind_reuse(port: int) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(SOL, REUSE, 1)
    sock.bind(("127.0.0.1", port))
    return sock


def bind_reuse_cleared(port: int) -> socket.socket:
    sock = bind_reuse(port)
    sock.setsockopt(SOL, REUSE, 0)
    return sock


STRATEGIES: dict[str, Callable[[int], socket.socket]] = {
    "no SO_REUSEADDR (0.2)": bind_plain,
    "SO_REUSEADDR": bind_reuse,
    "SO_REUSEADDR, cleared after bind": bind_reuse_cleared,
}
RIVALS = (
    ("127.0.0.1+R", socket.AF_INET, "127.0.0.1", True),
    ("127.0.0.1", socket.AF_INET, "127.0.0.1", False),
    ("0.0.0.0+R", socket.AF_INET, "0.0.0.0", True),
    ("[::]+R dual", socket.AF_INET6, "::", True),
)


def rival_listens(family: socket.AddressFamily, host: str, port: int, reuse: bool) -> bool:
    with socket.socket(family) as rival:
        if reuse:
            rival.setsockopt(SOL, REUSE, 1)
        if family == socket.AF_INET6:
            rival.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        try:
            rival.bind((host, port))
            rival.listen()
        except OSError:
            return False
    return True


def own_listen(bind: Callable[[int], socket.socket], port: int, *, reuse_again: bool) -> str:
    try:
        sock = bind(port)
    except OSError:
        return "-"
    with sock:
        try:
            if reuse_again:
                sock.setsockopt(SOL, REUSE, 1)
            sock.listen()
        except OSError:
            return "FAILS"
    return "ok"


def options_table() -> None:
    print("\nHeld socket options (127.0.0.1): bind, then which rivals listen meanwhile")
    header = f"{'leftovers':<22} {'held socket bound with':<34} {'bind':<6}"
    header += "".join(f"{name:<13}" for name, *_ in RIVALS) + "listen / +R again"
    print(header)
    for leftovers in ("none", "TIME_WAIT of +R server", "TIME_WAIT, no +R"):
        for name, bind in STRATEGIES.items():
            port = free_start(1)
            if leftovers != "none":
                leave_time_wait(port, reuse=leftovers == "TIME_WAIT of +R server")
            try:
                sock = bind(port)
            except OSError:
                print(f"{leftovers:<22} {name:<34} {'FAILS':<6}")
                continue
            with sock:
                cells = [
                    "LISTENS" if rival_listens(family, host, port, reuse) else "kept off"
                    for _, family, host, reuse in RIVALS
                ]
            listens = own_listen(bind, port, reuse_again=False)
            listens_reuse = own_listen(bind, port, reuse_again=True)
            row = f"{leftovers:<22} {name:<34} {'ok':<6}" + "".join(f"{c:<13}" for c in cells)
            print(row + f"{listens} / {listens_reuse}")


async def one_run(registry: Path, start: int) -> int:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()  # HTTP/1.0 style: the server closes first, TIME_WAIT lands on its port

    async with PortManager(registry, range=(start, start + 49)).lease(hold=True) as lease:
        server = await asyncio.start_server(hang_up, sock=lease.listen())
        async with server:
            reader, writer = await asyncio.open_connection("127.0.0.1", lease.port)
            await reader.read()
            writer.close()
            await writer.wait_closed()
        return lease.port


def restarts(count: int) -> None:
    rows: list[tuple[Sample, Sample | None]] = []
    print(f"\nThe README recipe restarted {count} times (one client each), range of 50 ports")
    for name, over_leftovers in (("held socket (0.3)", True), ("exclusive bind (0.2)", False)):
        held_socket._REUSE_OVER_LEFTOVERS = over_leftovers and sys.platform.startswith("linux")
        registry = Path(tempfile.mkdtemp()) / "registry.json"
        start = free_start(50)
        ports, times = [], []
        for _ in range(count):
            began = time.perf_counter()
            ports.append(asyncio.run(one_run(registry, start)))
            times.append(time.perf_counter() - began)
        print(f"{name:<24} distinct ports: {len(set(ports)):>3} of {count} runs")
        rows.append((Sample(f"restart, {name}", tuple(times)), None))
    held_socket._REUSE_OVER_LEFTOVERS = sys.platform.startswith("linux")
    print_table("Time per restart (lease + server + one client + release)", rows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--restarts", type=int, default=6)
    args = parser.parse_args()
    print(environment())
    options_table()
    restarts(args.restarts)


if __name__ == "__main__":
    main()
