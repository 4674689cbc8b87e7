"""Waiting for a port: until a server listens on it, or until a server could start there.

"Listening" is read from the kernel's socket table, not from a connect(): a connect to
``localhost`` misses a server on ``::1`` only or on another address, and a proxy (docker's)
accepts connections before anything behind it listens. On Linux each poll asks ``sock_diag``
for the listening sockets on the port only: the kernel then skips its table of connections,
so a poll costs tens of microseconds where ``/proc/net/tcp`` or ``psutil.net_connections``
cost milliseconds on a busy host (``benchmarks/bench_wait.py``). Elsewhere psutil answers.
With a ``pid``, the listener must be that process or one of its descendants (a server that
forks its workers); the processes are matched by the socket's inode in their ``/proc/<pid>/fd``.

"Free" means what :meth:`~aioports.PortManager.probe` says: a server could bind it now.

A poll is a plain blocking function; the two loops (async and sync) only sleep between
polls and keep the deadline, so a wait returns within one ``interval`` of the change.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

from . import _checks
from ._errors import WaitTimeoutError
from ._models import PortStatus, ProcessIdentity, validate_port
from ._probe import BindProber
from ._records import Record, record

__all__ = ("FREE", "LISTENING", "WaitResult", "Watch", "wait_async", "wait_blocking")

#: what a wait waits for, in the words results and errors use
LISTENING = "listening"
FREE = "free"


@record
class WaitResult(Record):
    """What a wait saw when its condition held.

    :ivar port: the port
    :ivar condition: ``"listening"`` or ``"free"``
    :ivar waited: seconds from the start of the wait to the poll that saw it
    :ivar pids: the processes listening on the port (those of ``pid``'s tree with a
        ``pid``); empty for ``free``, or when the OS hides them (another user's)
    :ivar addresses: the addresses listened on (``127.0.0.1``, ``::``, ...); empty for
        ``free``
    """

    port: int
    condition: str
    waited: float
    pids: tuple[int, ...] = ()
    addresses: tuple[str, ...] = ()


class Watch:
    """One wait's arguments, checked, its deadline, and its polls.

    :raises InvalidPortError: for a bad ``port``.
    :raises InvalidArgumentError: for a ``timeout`` or ``interval`` that is not a finite
        number of seconds > 0, or a ``pid`` that is not a whole number >= 1.
    """

    __slots__ = ("_began", "_owner", "condition", "interval", "pid", "port", "timeout")

    def __init__(
        self, port: int, condition: str, *, timeout: float, interval: float, pid: int | None
    ) -> None:
        self.port = validate_port(port)
        self.condition = condition
        self.timeout = _checks.seconds("timeout", timeout, positive=True)
        self.interval = _checks.seconds("interval", interval, positive=True)
        self.pid = None if pid is None else _checks.positive_int("pid", pid)
        self._owner: ProcessIdentity | None = None
        self._began = time.monotonic()

    def start(self) -> None:
        """Pin the ``pid``'s identity (blocking), so that a recycled PID is never followed.

        :raises ProcessGoneError: when no such process runs.
        """
        if self.pid is not None:
            from ._identity import process_identity

            self._owner = process_identity(self.pid)
        self._began = time.monotonic()

    def pause(self) -> float:
        """How long to sleep before the next poll.

        :raises WaitTimeoutError: when the deadline has passed.
        """
        remaining = self._began + self.timeout - time.monotonic()
        if remaining <= 0:
            raise WaitTimeoutError(self.port, self.condition, self.timeout, pid=self.pid)
        return min(self.interval, remaining)

    def _result(self, pids: tuple[int, ...] = (), addresses: tuple[str, ...] = ()) -> WaitResult:
        waited = time.monotonic() - self._began
        return WaitResult(self.port, self.condition, waited, pids, addresses)

    def poll_free(self, prober: BindProber) -> WaitResult | None:
        """The result if the port is free now (a non-blocking bind: fine on the loop)."""
        if prober.status(self.port) is PortStatus.FREE:
            return self._result()
        return None

    def poll_listening(self) -> WaitResult | None:
        """The result if the port has a listener now (of ``pid``'s tree, with one). Blocking.

        :raises ProcessGoneError: when ``pid`` has exited and nothing of its tree listens.
        :raises PermissionDeniedError: when the OS hides the socket table (macOS, no root).
        """
        found = _listeners(self.port)
        if found:
            tree = None if self._owner is None else descendants(self._owner.pid)
            inodes = {inode for _, inode, _ in found if inode}
            holders = _holders(inodes, tree) if inodes else {}
            addresses: set[str] = set()
            pids: set[int] = set()
            for address, inode, known in found:
                owners = {*known, *holders.get(inode, ())}
                if tree is not None:
                    owners &= tree
                    if not owners:
                        continue  # somebody else's listener
                addresses.add(address)
                pids |= owners
            if addresses:
                return self._result(tuple(sorted(pids)), tuple(sorted(addresses)))
        if self._owner is not None:
            from ._errors import ProcessGoneError
            from ._identity import is_gone

            if is_gone(self._owner):
                raise ProcessGoneError(
                    self._owner.pid,
                    f"process {self._owner.pid} exited before it listened on port {self.port}",
                )
        return None


Listener = tuple[str, int, tuple[int, ...]]  # (address, socket inode or 0, pids if known)


def _listeners(port: int) -> list[Listener]:
    """Every listening socket on ``port``: netlink on Linux (no PIDs, the inode), else psutil
    (the PID where the OS shows it)."""
    if sys.platform.startswith("linux"):
        from ._sockets import netlink_listeners

        try:
            return [(address, inode, ()) for address, inode in netlink_listeners(port)]
        except OSError:
            pass  # no netlink here (a sandbox): the portable path
    import psutil

    from ._identity import psutil_errors

    with psutil_errors(None):
        connections = psutil.net_connections("tcp")
    return [
        (conn.laddr.ip, 0, () if conn.pid is None else (conn.pid,))
        for conn in connections
        if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN
    ]


def _holders(inodes: set[int], among: set[int] | None) -> dict[int, tuple[int, ...]]:
    from ._sockets import pids_by_inode

    return pids_by_inode(inodes, among=among)


def descendants(pid: int, proc: str = "/proc") -> set[int]:
    """``pid`` and every process below it, from ``/proc/<pid>/task/*/children`` on Linux
    (a read per process of the tree, not a scan of all processes), else psutil."""
    tree = {pid}
    todo = [pid]
    while todo:
        parent = todo.pop()
        try:
            tasks = os.listdir(f"{proc}/{parent}/task")
        except OSError:
            if parent == pid and not os.path.isdir(proc):
                return _descendants_psutil(pid)
            continue  # exited meanwhile
        for task in tasks:
            try:
                with open(f"{proc}/{parent}/task/{task}/children", encoding="ascii") as file:
                    children = [int(child) for child in file.read().split()]
            except FileNotFoundError:
                return _descendants_psutil(pid)  # a kernel without CONFIG_PROC_CHILDREN
            except OSError:
                continue
            for child in children:
                if child not in tree:
                    tree.add(child)
                    todo.append(child)
    return tree


def _descendants_psutil(pid: int) -> set[int]:
    import psutil

    try:
        return {pid, *(child.pid for child in psutil.Process(pid).children(recursive=True))}
    except psutil.Error:
        return {pid}


def wait_blocking(watch: Watch, poll: Callable[[], WaitResult | None]) -> WaitResult:
    """Poll until ``poll`` returns a result, sleeping between polls; the sync door's loop.

    :raises WaitTimeoutError: when the deadline passes first.
    """
    watch.start()
    while True:
        result = poll()
        if result is not None:
            return result
        time.sleep(watch.pause())


async def wait_async(
    watch: Watch, poll: Callable[[], WaitResult | None], *, in_thread: bool
) -> WaitResult:
    """:func:`wait_blocking` on the event loop: each poll in a worker thread when
    ``in_thread`` (it reads the socket table), else inline (a non-blocking bind).

    :raises WaitTimeoutError: when the deadline passes first.
    """
    import anyio
    import anyio.to_thread

    if watch.pid is not None:
        await anyio.to_thread.run_sync(watch.start)  # reads the process's identity
    else:
        watch.start()
    while True:
        result = await anyio.to_thread.run_sync(poll) if in_thread else poll()
        if result is not None:
            return result
        await anyio.sleep(watch.pause())
