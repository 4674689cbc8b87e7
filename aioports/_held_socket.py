"""The socket a lease holds: rivals stay off its port, and TIME_WAIT leftovers do not move it.

Two wishes pull the held socket's options apart. A server that closes its connections first
(HTTP/1.0 style) leaves TIME_WAIT entries on its port for a minute, and a socket bound
without ``SO_REUSEADDR`` cannot bind over them: a restarted server's lease would move to the
next port every time. Yet a bound, idle socket *with* ``SO_REUSEADDR`` lets every other
``SO_REUSEADDR`` socket (asyncio, uvicorn, node) bind the same address and listen first.

Linux checks ``SO_REUSEADDR`` on *both* sockets whenever a bind or a ``listen()`` meets
another socket on the port, reading each socket's flag as it is at that moment. So the held
socket binds without the option; only when that fails, and the socket table shows nothing
on the port but sockets no process holds (TIME_WAIT and the other leftovers of closed
connections), it binds with the option and clears it at once. Measured on Linux 6.18
(``benchmarks/bench_restarts.py``; the table is in ``docs/guides/dev-servers.md``):

- either way, rivals of its family fail to bind it: with and without ``SO_REUSEADDR``, on the
  same address, on the wildcard and on a dual-stack ``::``;
- bound over TIME_WAIT, the socket must set the option again before ``listen()``: without
  it, its own ``listen()`` fails against the leftovers. :class:`HeldSocket` does that in
  :meth:`~HeldSocket.listen`, which also spares the *next* run: a listener without the
  option leaves leftovers that no ``SO_REUSEADDR`` bind can pass;
- leftovers of a listener that had no ``SO_REUSEADDR`` block every bind: such a port is
  skipped, as before.

A bound socket that only idles with ``SO_REUSEADDR`` (a rival half-way through starting) is
not a leftover: the table lists it (Linux 6.7 and later show bound sockets to ``sock_diag``),
so the port is skipped. Elsewhere than Linux the table cannot tell, and a port with
leftovers is skipped as before. Windows binds with ``SO_EXCLUSIVEADDRUSE``.
"""

from __future__ import annotations

import socket
import sys

from ._probe import IN_USE_ERRNOS
from ._steps import Blocking, Steps

__all__ = ("HeldSocket", "bind_held", "only_leftovers")

_DEFAULT_BACKLOG = socket.SOMAXCONN
# Where SO_REUSEADDR means "may pass TIME_WAIT" and is checked on both sockets of a conflict.
_REUSE_OVER_LEFTOVERS = sys.platform.startswith("linux")


class HeldSocket(socket.socket):
    """A TCP socket bound for a lease, not yet listening; a plain ``socket.socket`` otherwise.

    Its :meth:`listen` switches ``SO_REUSEADDR`` on first: from ``listen()`` on nothing can
    share the port anyway, the socket may have been bound over TIME_WAIT leftovers (which
    bar a ``listen()`` without it), and the connections it accepts then leave leftovers that
    the next ``SO_REUSEADDR`` server can pass. ``asyncio.start_server(sock=...)`` calls it.
    A copy rebuilt from the file descriptor (``socket.socket(fileno=...)``, another
    process) listens without that nicety: call ``listen()`` here before handing it over.
    """

    __slots__ = ()

    def listen(self, *backlog: int) -> None:
        """Listen, with ``SO_REUSEADDR`` switched on first (see the class)."""
        if sys.platform != "win32":
            self.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        super().listen(*(backlog or (_DEFAULT_BACKLOG,)))


def bind_held(family: socket.AddressFamily, host: str, port: int) -> Steps[HeldSocket | None]:
    """Bind a :class:`HeldSocket` to ``(host, port)``; None when the port is taken.

    A generator of steps (``_steps.py``): reading the socket table, on the rare port that
    has leftovers, is a blocking step.

    :raises OSError: for any failure but "address in use" (``EADDRNOTAVAIL``, say).
    """
    sock = _bound(family, host, port, reuse=False)
    if sock is None and _REUSE_OVER_LEFTOVERS and (yield Blocking(only_leftovers, (port,))):
        sock = _bound(family, host, port, reuse=True)
    return sock


def _bound(family: socket.AddressFamily, host: str, port: int, *, reuse: bool) -> HeldSocket | None:
    sock = HeldSocket(family, socket.SOCK_STREAM)
    try:
        if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)
        if family == socket.AF_INET6:
            # Like asyncio and anyio listeners: the IPv6 socket serves IPv6 only.
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if reuse:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        if reuse:
            # Cleared at once: a rival's bind now meets a socket without the option.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 0)
    except OSError as exc:
        sock.close()
        if exc.errno in IN_USE_ERRNOS:
            return None
        raise
    return sock


def only_leftovers(port: int) -> bool:
    """Whether every TCP socket on ``port`` is one no process holds (TIME_WAIT, FIN_WAIT2
    ...), and there is at least one. False when the kernel's table cannot be read: the
    port is then skipped, never shared with a rival."""
    from ._sockets import netlink_table  # psutil comes with it: only on this rare path

    try:
        entries = netlink_table((port,))
    except OSError:
        return False
    return bool(entries) and all(entry.orphan for entry in entries)
