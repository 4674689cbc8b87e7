"""Bind probes: could a typical server start on this port right now?

A typical server (``asyncio.start_server``, uvicorn, node) binds the wildcard addresses with
``SO_REUSEADDR``. Binding 0.0.0.0 and then :: (``IPV6_V6ONLY``) the same way answers the
question exactly, including listeners on 127.0.0.1 or ::1 only, IPv6-only sockets, bound but
not listening sockets and TIME_WAIT leftovers, which a connect() probe misses. A bind on a
non-blocking socket never waits, so probes run inline on the event loop.

The answer is a snapshot: another process may take the port a moment later. Hand the bound
socket over instead when that matters.
"""

from __future__ import annotations

import errno
import socket
import sys

from ._models import PortStatus

__all__ = ("BindProber",)

_IN_USE_ERRNOS = frozenset(
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
        if exc.errno in _IN_USE_ERRNOS:
            return PortStatus.IN_USE
        if exc.errno in _DENIED_ERRNOS:
            return PortStatus.DENIED
        raise
    finally:
        sock.close()
    return PortStatus.FREE


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

    def status(self, port: int) -> PortStatus:
        """Probe one port; ``port`` must already be validated."""
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
