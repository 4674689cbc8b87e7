"""Loopback scenarios that occupy a port in the ways a probe can get wrong; each holds its
sockets open until the ``with`` block ends."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Iterator

Scenario = Callable[[int], contextlib.AbstractContextManager[None]]


def _socket(family: socket.AddressFamily = socket.AF_INET, *, reuse: bool = False) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    if reuse:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    return sock


@contextlib.contextmanager
def nothing(port: int) -> Iterator[None]:
    yield


@contextlib.contextmanager
def listener(port: int, host: str = "127.0.0.1") -> Iterator[None]:
    with _socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, port))
        sock.listen()
        yield


@contextlib.contextmanager
def ipv6_loopback_listener(port: int) -> Iterator[None]:
    with listener(port, "::1"):
        yield


@contextlib.contextmanager
def ipv6_only_wildcard_listener(port: int) -> Iterator[None]:
    with listener(port, "::"):
        yield


@contextlib.contextmanager
def bound_not_listening(port: int, *, reuse: bool = False) -> Iterator[None]:
    with _socket(reuse=reuse) as sock:
        sock.bind(("127.0.0.1", port))
        yield


@contextlib.contextmanager
def bound_not_listening_reuse(port: int) -> Iterator[None]:
    with bound_not_listening(port, reuse=True):
        yield


@contextlib.contextmanager
def time_wait(port: int, *, reuse: bool = False) -> Iterator[None]:
    """A connection to a listener on ``port``, closed by the server side first, so that the
    port is left in TIME_WAIT with no socket open on it."""
    with _socket(reuse=reuse) as server:
        server.bind(("127.0.0.1", port))
        server.listen()
        with socket.create_connection(("127.0.0.1", port)) as client:
            accepted, _ = server.accept()
            accepted.close()  # the active close: TIME_WAIT lands on the server's port
            client.recv(1)
    yield


@contextlib.contextmanager
def time_wait_reuse(port: int) -> Iterator[None]:
    with time_wait(port, reuse=True):
        yield


@contextlib.contextmanager
def reuseport_listener(port: int) -> Iterator[None]:
    with _socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen()
        yield


@contextlib.contextmanager
def outgoing_connection(port: int) -> Iterator[None]:
    """A connection made from ``port`` to a listener on another (OS-chosen) port."""
    with _socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with _socket() as client:
            client.bind(("127.0.0.1", port))
            client.connect(server.getsockname())
            accepted, _ = server.accept()
            with accepted:
                yield


SCENARIOS: dict[str, Scenario] = {
    "free": nothing,
    "listener 127.0.0.1": listener,
    "listener ::1 only": ipv6_loopback_listener,
    "IPv6-only listener on ::": ipv6_only_wildcard_listener,
    "bound, not listening": bound_not_listening,
    "bound, not listening, SO_REUSEADDR": bound_not_listening_reuse,
    "TIME_WAIT after a listener": time_wait,
    "TIME_WAIT after a listener, SO_REUSEADDR": time_wait_reuse,
    "SO_REUSEPORT listener": reuseport_listener,
    "outgoing connection from the port": outgoing_connection,
}
