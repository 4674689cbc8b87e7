"""The floor of a registry transaction: the same work as aioports' allocate and release, in
plain sync Python (stdlib + orjson), with nothing else.

One cycle = allocate (blocking flock on the sidecar, read, parse, the lowest port of the
range that is neither recorded nor refused by a dual-stack bind, add an entry, encode, temp
file, fsync, rename, fsync of the folder, unlock) + release (the same, removing the entry).

Run alone: python benchmarks/floor_registry.py REGISTRY START END [CYCLES]
"""

from __future__ import annotations

import fcntl
import os
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path

import orjson


def _write(path: Path, data: bytes) -> None:
    temp = path.with_name(f".{path.name}.{os.getpid()}.floor.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _free(port: int) -> bool:
    sock = socket.socket(socket.AF_INET6)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(("::", port))
    except OSError:
        return False
    finally:
        sock.close()
    return True


def _transaction(path: Path, change: object) -> int:
    lock = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            document = orjson.loads(path.read_bytes())
        except FileNotFoundError:
            document = {"version": 1, "leases": {}}
        port: int = change(document["leases"])  # type: ignore[operator]
        _write(path, orjson.dumps(document))
        return port
    finally:
        os.close(lock)


def cycle(path: Path, start: int, end: int) -> None:
    def allocate(leases: dict[str, object]) -> int:
        port = next(p for p in range(start, end + 1) if str(p) not in leases and _free(p))
        leases[str(port)] = {
            "port": port,
            "allocated_at": datetime.now(UTC).isoformat(),
            "pid": os.getpid(),
            "hostname": socket.gethostname(),
        }
        return port

    port = _transaction(path, allocate)
    _transaction(path, lambda leases: leases.pop(str(port)) and port)


if __name__ == "__main__":
    registry, first, last = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    for _ in range(int(sys.argv[4]) if len(sys.argv) > 4 else 1):
        cycle(registry, first, last)
