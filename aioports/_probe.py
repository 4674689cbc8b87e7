"""Bind probes: could a typical server start on this port right now?

A typical server (``asyncio.start_server``, uvicorn, node) binds the wildcard addresses with
``SO_REUSEADDR``. Binding 0.0.0.0 and then :: (``IPV6_V6ONLY``) the same way answers the
question exactly, including listeners on 127.0.0.1 or ::1 only, IPv6-only sockets, bound but
not listening sockets and TIME_WAIT leftovers, which a connect() probe misses. A bind on a
non-blocking socket never waits, so probes run inline on the event loop.

On Linux one bind of a dual-stack ``::`` socket (``IPV6_V6ONLY`` off) conflicts with exactly
the sockets that one of those two binds conflicts with (any IPv4 or IPv6 socket on the port, under
the same reuse rules), so a port it clears is free at half the cost. A port it refuses is checked
again the exact way, which also tells ``in_use`` from ``denied``; scans therefore spend the double
bind only on the few busy ports.

The answer is a snapshot: another process may take the port a moment later. Hand the bound
socket over instead when that matters.
"""

from __future__ import annotations

import errno
import socket
import sys

from ._models import PortStatus

__all__ = ("BindProber", "bind_failures")

IN_USE_ERRNOS = frozenset(
    e for e in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", None)) if e is not None
)
_DENIED_ERRNOS = frozenset(
    e for e in (errno.EACCES, errno.EPERM, getattr(errno, "WSAEACCES", None)) if e is not None
)
# An IPv6 wildcard bind that fails with one of these means "no IPv6 here", not "busy".
_NO_IPV6_ERRNOS = frozenset(
    e
    for e in (errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL, getattr(errno, "EPROTONOSUPPORT", None))
    if e is not None
)

if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    # SO_REUSEADDR on Windows lets a bind succeed on a port in use: ask for exclusivity.
    _REUSE_OPTION = getattr(socket, "SO_EXCLUSIVEADDRUSE", socket.SO_REUSEADDR)
else:
    _REUSE_OPTION = socket.SO_REUSEADDR


def _bind_status(family: socket.AddressFamily, host: str, port: int) -> PortStatus:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, _REUSE_OPTION, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, port))
    except OSError as exc:
        if exc.errno in IN_USE_ERRNOS:
            return PortStatus.IN_USE
        if exc.errno in _DENIED_ERRNOS:
            return PortStatus.DENIED
        raise
    finally:
        sock.close()
    return PortStatus.FREE


def bind_failures(start: int, stop: int, family: int) -> list[tuple[int, int]]:
    """``(port, errno)`` for each port of ``range(start, stop)`` that a wildcard bind refuses:
    ``::`` dual-stack for ``AF_INET6``, else ``0.0.0.0``. The hot loop of every scan.

    It uses nothing but the ``socket`` module, because scans also send its source to worker
    processes (see ``_scan.py``).
    """
    new_socket = socket.socket
    stream, sol, reuse = socket.SOCK_STREAM, socket.SOL_SOCKET, socket.SO_REUSEADDR
    dual_stack = family == socket.AF_INET6
    host = "::" if dual_stack else "0.0.0.0"
    ipproto_ipv6, v6only = socket.IPPROTO_IPV6, socket.IPV6_V6ONLY
    failures = []
    for port in range(start, stop):
        sock = new_socket(family, stream)
        try:
            sock.setsockopt(sol, reuse, 1)
            if dual_stack:
                sock.setsockopt(ipproto_ipv6, v6only, 0)
            sock.bind((host, port))
        except OSError as exc:
            failures.append((port, exc.errno or 0))
        finally:
            sock.close()
    return failures


class BindProber:
    """Probes ports by binding the wildcard addresses; remembers whether the host has IPv6."""

    __slots__ = ("_ipv6",)

    def __init__(self) -> None:
        self._ipv6: bool | None = None

    @property
    def ipv6(self) -> bool:
        """Whether this host can bind an IPv6 wildcard socket (checked once, on first use)."""
        if self._ipv6 is None:
            self._ipv6 = _host_has_ipv6()
        return self._ipv6

    @property
    def fast_family(self) -> int | None:
        """The family :func:`bind_failures` clears ports with on this host, or None where only
        the exact double bind is known to match a server's view (outside Linux)."""
        if sys.platform != "linux":
            return None
        return socket.AF_INET6 if self.ipv6 else socket.AF_INET

    def failures(self, start: int, stop: int) -> list[int]:
        """The ports of ``range(start, stop)`` the fast bind does not clear; each needs
        :meth:`exact_status`. Every port, where there is no fast bind."""
        family = self.fast_family
        if family is None:
            return list(range(start, stop))
        return [port for port, _ in bind_failures(start, stop, family)]

    def status(self, port: int) -> PortStatus:
        """Probe one port; ``port`` must already be validated."""
        if self.failures(port, port + 1):
            return self.exact_status(port)
        return PortStatus.FREE

    def exact_status(self, port: int) -> PortStatus:
        """Probe one port with one bind per wildcard address, as a server binds them."""
        status = _bind_status(socket.AF_INET, "0.0.0.0", port)
        if status is not PortStatus.FREE or not self.ipv6:
            return status
        try:
            return _bind_status(socket.AF_INET6, "::", port)
        except OSError as exc:
            if exc.errno in _NO_IPV6_ERRNOS:
                return status
            raise


def _host_has_ipv6() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    except OSError:
        return False
    try:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(("::", 0))
    except OSError:
        return False
    finally:
        sock.close()
    return True
