"""Ports for the tests, asked of the OS: free ones, free blocks, and whether one is bindable.

Child processes live in :mod:`processes`.
"""

from __future__ import annotations

import random
import socket


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS says is free right now (the tests' own ground truth)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _ephemeral_start() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as file:
            return int(file.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_block(size: int) -> int:
    """The first port of ``size`` consecutive ports that are all bindable now.

    Drawn below the kernel's ephemeral range, where no outgoing connection or bind(0) of
    another program lands by chance while a test holds the block.
    """
    top = _ephemeral_start() - size
    for _ in range(500):
        start = random.randint(10_000, max(10_001, top))
        if all(bindable(p) for p in range(start, start + size)):
            return start
    raise RuntimeError(f"found no {size} consecutive free ports")


def bindable(port: int) -> bool:
    """Ground truth: can a server listen on the wildcard addresses, IPv4 and IPv6?"""
    socks = []
    try:
        for family, host in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
            sock = socket.socket(family, socket.SOCK_STREAM)
            socks.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind((host, port))
            sock.listen()
    except OSError:
        return False
    finally:
        for sock in socks:
            sock.close()
    return True
