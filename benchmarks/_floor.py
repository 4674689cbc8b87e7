"""What the floor scripts share: the work of a CLI call in plain Python (stdlib and orjson),
with none of aioports' checks, so ``bench_cli.py`` can say what a command costs above it."""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import sys


def registry_path() -> str:
    return os.environ["AIOPORTS_REGISTRY"]


def bindable(port: int) -> bool:
    """One wildcard bind per family, as a server would (0.0.0.0 and ::, SO_REUSEADDR)."""
    for family, host in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
        finally:
            sock.close()
    return True


def locked(path: str) -> int:
    fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as file:
            return file.read()
    except FileNotFoundError:
        return None


def write(path: str, data: bytes) -> None:
    """Temp file, fsync, rename, fsync of the folder: the crash-safe write."""
    temp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, path)
    folder = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def emit(data: bytes) -> None:
    sys.stdout.buffer.write(data)
