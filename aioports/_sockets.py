"""Who holds which TCP port: one snapshot of the host's socket table, mapped to PIDs.

Finding the process behind a port is the slow part of ``detect_occupier``. The portable path
is ``psutil.net_connections()``, which reads and parses every line of ``/proc/net/tcp{,6}`` on
Linux before it filters. On Linux this module asks the kernel instead, over a ``sock_diag``
netlink socket (what ``ss`` uses), with a bytecode filter so that only the sockets on the
wanted ports cross into Python; the socket inodes found are then matched against one scan of
``/proc/<pid>/fd``, skipped entirely when no socket matched. Measured here with 1,000 other
listeners, that is several times faster than the psutil scan (see ``benchmarks/bench_occupier.py``).

The psutil path is also less complete on Linux: it names one holder per socket, so the
workers of a forked server sharing a listener are missed; the netlink path finds them all.

(The free-port search needs only which ports have a listener, without PIDs: that cheaper
snapshot is ``_listeners.py``.)

Plain sync functions, run in a worker thread by the caller. Anything unexpected from netlink
makes :func:`socket_table` fall back to psutil, so the fast path can only be faster, never
wrong in a different way.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import struct
import sys
from collections.abc import Collection, Iterable

import psutil

from ._records import record

__all__ = (
    "SocketEntry",
    "netlink_listeners",
    "netlink_table",
    "pids_by_inode",
    "psutil_table",
    "socket_table",
)

# psutil's names for the kernel's TCP states (include/net/tcp_states.h).
_TCP_STATES = {
    1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2",
    6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING",
    12: "SYN_RECV",  # TCP_NEW_SYN_RECV: a request socket, shown as SYN_RECV like ss does
}  # fmt: skip

_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST = 0x1
_NLM_F_DUMP = 0x300
_NLMSG_ERROR = 2
_NLMSG_DONE = 3
_INET_DIAG_REQ_BYTECODE = 1
_INET_DIAG_BC_S_GE = 2
_INET_DIAG_BC_S_LE = 3
_ALL_STATES = 0xFFFFFFFF
# Only the listening hash: the kernel skips its (large) table of connections, so this dump
# costs tens of microseconds where one with every state costs milliseconds.
_LISTEN_ONLY = 1 << 10

_NLMSGHDR = struct.Struct("=IHHII")
# inet_diag_req_v2: family, protocol, ext, pad, states; then inet_diag_sockid (48 bytes, zeroed).
_REQUEST = struct.Struct("=BBBBI48x")
_RTATTR = struct.Struct("=HH")
# inet_diag_msg: family, state, timer, retrans; sockid: sport, dport (big-endian), src, dst,
# if, cookie; then expires, rqueue, wqueue, uid, inode.
_DIAG_MSG = struct.Struct("=BBBB")
_DIAG_SPORT = struct.Struct("!H")
_DIAG_UID_INODE = struct.Struct("=II")
_DIAG_MSG_SIZE = 72
_RECV_SIZE = 1 << 17
#: Socket states no process holds: a PID-less socket in one of them has no process to find
#: or kill (psutil shows no inode for it either).
ORPHAN_STATES = frozenset(
    ("TIME_WAIT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "CLOSING", "LAST_ACK")
)


@record
class SocketEntry:
    """One TCP socket bound to a local port.

    :ivar port: the local port
    :ivar address: the local address (``127.0.0.1``, ``::``, ...)
    :ivar status: the TCP state, as psutil names it (``LISTEN``, ``TIME_WAIT``, ...)
    :ivar pids: the processes that have it open; empty when none is visible
    :ivar uid: the socket's owner, when the OS says (Linux netlink path only)
    :ivar orphan: True when no process can hold it (TIME_WAIT, an unaccepted or closed
        connection): such a socket has no PID to find, rather than a hidden one
    """

    port: int
    address: str
    status: str
    pids: tuple[int, ...]
    uid: int | None
    orphan: bool


def socket_table(ports: Collection[int] | None = None) -> list[SocketEntry]:
    """Every TCP socket whose local port is in ``ports`` (all of them when None), one snapshot.

    Uses netlink ``sock_diag`` on Linux and ``psutil.net_connections`` elsewhere, or when
    netlink is unavailable (a sandbox without ``AF_NETLINK``, for instance).

    :raises psutil.AccessDenied: when the portable path is refused by the OS (macOS without
        root, for instance); the caller maps it.
    """
    if sys.platform.startswith("linux"):
        try:
            return netlink_table(ports)
        except OSError:
            pass
    return psutil_table(ports)


def psutil_table(ports: Collection[int] | None = None) -> list[SocketEntry]:
    """The portable path: ``psutil.net_connections("tcp")``, then a filter on the port."""
    wanted = None if ports is None else frozenset(ports)
    connections = psutil.net_connections("tcp")
    return [
        SocketEntry(
            port=conn.laddr.port,
            address=conn.laddr.ip,
            status=conn.status,
            pids=() if conn.pid is None else (conn.pid,),
            uid=None,
            orphan=conn.pid is None and conn.status in ORPHAN_STATES,
        )
        for conn in connections
        if conn.laddr and (wanted is None or conn.laddr.port in wanted)
    ]


def netlink_table(ports: Collection[int] | None = None) -> list[SocketEntry]:
    """The Linux path: a ``sock_diag`` dump filtered in the kernel, and one ``/proc`` scan.

    :raises OSError: when netlink is unavailable or answers something unexpected.
    """
    wanted = None if ports is None else frozenset(ports)
    if wanted is not None and not wanted:
        return []
    low, high = (min(wanted), max(wanted)) if wanted else (1, 65535)
    raw: list[tuple[int, str, str, int, int]] = []
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_SOCK_DIAG) as nl:
        for family in (socket.AF_INET, socket.AF_INET6):
            raw.extend(_dump(nl, family, low, high))
    if wanted is not None:
        raw = [r for r in raw if r[0] in wanted]
    owners = pids_by_inode({inode for *_, inode in raw if inode})
    return [
        SocketEntry(
            port=port,
            address=address,
            status=status,
            pids=owners.get(inode, ()),
            uid=uid,
            orphan=inode == 0,
        )
        for port, address, status, uid, inode in raw
    ]


def netlink_listeners(port: int) -> list[tuple[str, int]]:
    """``(address, inode)`` of every listening TCP socket on ``port``, IPv4 and IPv6, from a
    ``sock_diag`` dump of the kernel's listening sockets only (what ``wait`` polls).

    :raises OSError: when netlink is unavailable or answers something unexpected.
    """
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_SOCK_DIAG) as nl:
        return [
            (address, inode)
            for family in (socket.AF_INET, socket.AF_INET6)
            for found, address, _status, _uid, inode in _dump(nl, family, port, port, _LISTEN_ONLY)
            if found == port
        ]


def netlink_listening_ports() -> frozenset[int]:
    """The local port of every listening TCP socket, IPv4 and IPv6, from one ``sock_diag``
    dump of the listening sockets only: tens of microseconds, where ``/proc/net/tcp`` costs
    milliseconds once a host has thousands of connections.

    :raises OSError: when netlink is unavailable or answers something unexpected.
    """
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_SOCK_DIAG) as nl:
        return frozenset(
            found[0]
            for family in (socket.AF_INET, socket.AF_INET6)
            for found in _dump(nl, family, 1, 65535, _LISTEN_ONLY)
        )


def _bytecode(low: int, high: int) -> bytes:
    """An inet_diag filter program: ``low <= sport <= high``.

    Each comparison is an op (code, yes, no) followed by an op carrying the port in ``no``.
    ``yes`` steps to the next op; ``no`` jumps 4 bytes past the end, which rejects.
    """
    if (low, high) == (1, 65535):
        return b""
    ops = struct.pack("=BBH", _INET_DIAG_BC_S_GE, 8, 20) + struct.pack("=BBH", 0, 0, low)
    ops += struct.pack("=BBH", _INET_DIAG_BC_S_LE, 8, 12) + struct.pack("=BBH", 0, 0, high)
    return ops


def _dump(
    nl: socket.socket, family: int, low: int, high: int, states: int = _ALL_STATES
) -> Iterable[tuple[int, str, str, int, int]]:
    """Ask for every TCP socket of ``family`` in ``states`` (a bit per state) with
    ``low <= sport <= high``; yields ``(port, address, status, uid, inode)``."""
    bytecode = _bytecode(low, high)
    body = _REQUEST.pack(family, socket.IPPROTO_TCP, 0, 0, states)
    if bytecode:
        body += _RTATTR.pack(_RTATTR.size + len(bytecode), _INET_DIAG_REQ_BYTECODE) + bytecode
    sequence = family
    header = _NLMSGHDR.pack(
        _NLMSGHDR.size + len(body), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST | _NLM_F_DUMP, sequence, 0
    )
    nl.sendall(header + body)
    address_size = 4 if family == socket.AF_INET else 16
    while True:
        data = nl.recv(_RECV_SIZE)
        if not data:
            raise OSError(errno.EIO, "netlink closed the dump early")
        offset = 0
        while offset + _NLMSGHDR.size <= len(data):
            length, kind, _flags, seq, _pid = _NLMSGHDR.unpack_from(data, offset)
            if length < _NLMSGHDR.size:
                raise OSError(errno.EPROTO, "malformed netlink message")
            payload = offset + _NLMSGHDR.size
            if seq != sequence:
                offset += (length + 3) & ~3
                continue  # not an answer to this request
            if kind == _NLMSG_DONE:
                return
            elif kind == _NLMSG_ERROR:
                (code,) = struct.unpack_from("=i", data, payload)
                raise OSError(-code, f"sock_diag refused the query: {os.strerror(-code)}")
            elif kind == _SOCK_DIAG_BY_FAMILY and length >= _NLMSGHDR.size + _DIAG_MSG_SIZE:
                _family, state, _timer, _retrans = _DIAG_MSG.unpack_from(data, payload)
                (port,) = _DIAG_SPORT.unpack_from(data, payload + 4)
                packed = data[payload + 8 : payload + 8 + address_size]
                uid, inode = _DIAG_UID_INODE.unpack_from(data, payload + 64)
                yield (
                    port,
                    str(ipaddress.ip_address(packed)),
                    _TCP_STATES.get(state, "NONE"),
                    uid,
                    inode,
                )
            offset += (length + 3) & ~3


def pids_by_inode(
    inodes: Collection[int], proc: str = "/proc", *, among: Iterable[int] | None = None
) -> dict[int, tuple[int, ...]]:
    """The processes that hold each socket inode open, from one scan of ``/proc/*/fd``
    (only of the processes ``among``, when given).

    Processes this user may not inspect (another user's, without root) are skipped: their
    sockets then have no PID, which callers report as an unknown holder, never as free.
    """
    if not inodes:
        return {}
    targets = {f"socket:[{inode}]": inode for inode in inodes}
    found: dict[int, list[int]] = {}
    names = os.listdir(proc) if among is None else [str(pid) for pid in among]
    for name in names:
        if not name.isdigit():
            continue
        try:
            fd_dir = os.open(f"{proc}/{name}/fd", os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            continue  # gone, or not ours to read
        try:
            for fd in os.listdir(fd_dir):
                try:
                    link = os.readlink(fd, dir_fd=fd_dir)
                except OSError:
                    continue
                inode = targets.get(link)
                if inode is not None:
                    holders = found.setdefault(inode, [])
                    pid = int(name)
                    if pid not in holders:
                        holders.append(pid)
        except OSError:
            continue
        finally:
            os.close(fd_dir)
    return {inode: tuple(sorted(pids)) for inode, pids in found.items()}
