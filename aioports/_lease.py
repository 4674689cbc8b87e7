"""Leases: a port held for the life of a block, optionally with its socket already bound.

A port number alone is a promise nobody keeps: between "this port is free" and the server's
``bind()`` any other program may take it. A lease closes that gap twice over. Its allocation
is owner-bound to this process, so every aioports user skips the port until the lease ends
(or this process dies). With ``hold=True`` the lease also binds the socket the server will
use, while the registry lock is held, so no program at all can take the port in between.

The held socket keeps rival servers off the port, yet binds over the TIME_WAIT leftovers of
the last run, so a restarted server keeps its port: ``_held_socket.py`` says how.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from socket import socket as SocketType
from types import TracebackType
from typing import NoReturn

from ._entries import Entries
from ._errors import ArgumentTypeError, InvalidArgumentError, shown
from ._held_socket import bind_held
from ._models import Allocation
from ._steps import Steps

__all__ = ("Lease", "SocketClaim", "lease_context", "release_if_ours")

_DEFAULT_BACKLOG = socket.SOMAXCONN

ReleaseFunction = Callable[[Allocation], Awaitable[bool]]
BlockingReleaseFunction = Callable[[Allocation], bool]


class SocketClaim:
    """The ``claim`` hook of the free-port search: binds the handoff socket to a candidate.

    Called with the registry lock held, so no aioports user can pick the port meanwhile;
    the bind itself keeps every other program off it.

    :param host: an IP address literal; its version picks the address family
    :raises InvalidArgumentError: when ``host`` is not an IP address (``ArgumentTypeError``
        when it is not text); binding it raises it too when it is no address of this host.
    """

    __slots__ = ("_family", "_host", "socket")

    def __init__(self, host: str) -> None:
        message = (
            "host must be an IP address such as '127.0.0.1', '0.0.0.0', '::1' or '::', "
            f"got {shown(host)}"
        )
        if not isinstance(host, str):
            raise ArgumentTypeError("host", host, message)
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            raise InvalidArgumentError("host", host, message) from None
        self._host = str(address)
        self._family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
        self.socket: socket.socket | None = None

    def __call__(self, port: int) -> Steps[bool]:
        """Bind a fresh socket to ``port``; False when the port is taken (the search goes
        on). A generator of steps: see :func:`~aioports._held_socket.bind_held`."""
        try:
            sock = yield from bind_held(self._family, self._host, port)
        except OSError as exc:
            if exc.errno == errno.EADDRNOTAVAIL:
                message = (
                    f"host {self._host} is not an address of this host "
                    "(use 127.0.0.1, ::1, 0.0.0.0 or ::)"
                )
                raise InvalidArgumentError("host", self._host, message) from None
            raise
        self.socket = sock
        return sock is not None

    def discard(self) -> None:
        """Close the socket of a claim whose allocation did not go through."""
        if self.socket is not None:
            self.socket.close()
            self.socket = None


def release_if_ours(entries: Entries, allocation: Allocation) -> bool:
    """Remove ``allocation`` from ``entries`` only if the entry is still that very allocation.

    After a ``cleanup()`` somebody else may hold the same port; their entry stays.
    """
    current = entries.get(allocation.port)
    if current is None or _identity(current) != _identity(allocation):
        return False
    entries.pop(allocation.port)
    return True


def _identity(allocation: Allocation) -> tuple[object, ...]:
    return (
        allocation.port,
        allocation.allocated_at,
        allocation.pid,
        allocation.hostname,
        allocation.owner_pid,
        allocation.owner_create_time,
    )


class Lease:
    """One port allocated to this process until :meth:`release`, which ``async with`` calls.

    The allocation is owner-bound to this process: if it dies without releasing, the next
    registry operation of any aioports user reclaims the port.

    :ivar allocation: the registry entry, as recorded
    """

    __slots__ = ("_release", "_release_blocking", "_released", "_socket", "allocation")

    def __init__(
        self,
        allocation: Allocation,
        sock: SocketType | None,
        release: ReleaseFunction | None = None,
        *,
        release_blocking: BlockingReleaseFunction | None = None,
    ) -> None:
        if (release is None) == (release_blocking is None):
            raise TypeError("a Lease needs exactly one of release and release_blocking")
        self.allocation = allocation
        self._socket = sock
        self._release = release
        self._release_blocking = release_blocking
        self._released = False

    def __repr__(self) -> str:
        state = "released" if self._released else "held"
        held = "" if self._socket is None else ", socket held"
        return f"<Lease port={self.port} {state}{held}>"

    @property
    def port(self) -> int:
        """The leased port."""
        return self.allocation.port

    @property
    def socket(self) -> SocketType | None:
        """The bound, not yet listening socket of a ``hold=True`` lease; None otherwise, or
        once :meth:`close_socket` or :meth:`release` closed it.

        Hand it to the server (``asyncio.start_server(sock=...)``, ``uvicorn --fd``,
        ``anyio.abc.SocketListener.from_socket`` after ``listen()``); the server then owns
        it, and closing it again here is harmless.
        """
        if self._socket is not None and self._socket.fileno() == -1:
            self._socket = None  # the server it was handed to has closed it
        return self._socket

    @property
    def released(self) -> bool:
        """Whether :meth:`release` has run."""
        return self._released

    def listen(self, backlog: int = _DEFAULT_BACKLOG) -> SocketType:
        """Start listening on the held socket and return it, for the server to take over.

        The same as ``lease.socket.listen(backlog)``: ``SO_REUSEADDR`` is switched on at
        the last moment (see :class:`~aioports._held_socket.HeldSocket`).

        :raises RuntimeError: when the lease holds no socket (``hold=False``, or closed).
        """
        sock = self.socket
        if sock is None:
            raise RuntimeError(
                f"the lease of port {self.port} holds no socket: lease with hold=True, "
                "and listen before close_socket()"
            )
        sock.listen(backlog)
        return sock

    def close_socket(self) -> None:
        """Close the held socket, keeping the allocation: do this right before a child process
        binds the port itself. Idempotent."""
        sock, self._socket = self._socket, None
        if sock is not None:
            sock.close()

    async def release(self) -> bool:
        """Close the held socket and remove the allocation, even when the calling task is
        being cancelled. Idempotent.

        :return: True if this call removed the allocation; False if it was already released,
            or the registry no longer held it (after a ``cleanup()``, say).
        """
        import anyio
        import anyio.to_thread

        self.close_socket()
        if self._released:
            return False
        with anyio.CancelScope(shield=True):
            if self._release is not None:
                removed = await self._release(self.allocation)
            else:
                assert self._release_blocking is not None
                removed = await anyio.to_thread.run_sync(self._release_blocking, self.allocation)
        # Only now: a release that failed (a lock timeout, say) can be tried again.
        self._released = True
        return removed

    def release_blocking(self) -> bool:
        """:meth:`release` for a lease of the sync door (``lease_sync``, the pytest
        fixtures), without an event loop. Idempotent.

        :raises RuntimeError: for a lease of ``PortManager``, whose release is async.
        """
        self.close_socket()
        if self._released:
            return False
        if self._release_blocking is None:
            raise RuntimeError("this lease belongs to a PortManager: await lease.release()")
        removed = self._release_blocking(self.allocation)
        self._released = True
        return removed

    async def __aenter__(self) -> Lease:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.release()

    def __enter__(self) -> NoReturn:
        raise TypeError(
            "Lease is asynchronous: use 'async with', or aioports.lease_sync() in plain code"
        )

    def __exit__(self, *args: object) -> None:  # pragma: no cover - __enter__ always raises
        return None


@contextlib.asynccontextmanager
async def lease_context(acquire: Callable[[], Awaitable[Lease]]) -> AsyncIterator[Lease]:
    """Acquire a lease on entry and release it on exit, however the block ends."""
    lease = await acquire()
    async with lease:
        yield lease
