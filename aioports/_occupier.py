"""Occupiers: which processes hold a port, and whether aioports may kill them.

Plain sync functions, run in a worker thread by the async layer (``_takeover.py``). Process
identity, signals and the psutil error mapping live in ``_identity.py``: an occupier is
signalled through :func:`identity_of` its record, so the check before the signal compares
the start token read when the holder was found.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Collection

import psutil

from ._errors import DenialReason, PermissionDeniedError
from ._identity import ProcessIdentity, psutil_errors, start_token
from ._models import Occupier
from ._sockets import ORPHAN_STATES, SocketEntry, socket_table

__all__ = (
    "ORPHAN_STATES",
    "holders_of",
    "identity_of",
    "occupiers_by_port",
    "refusal",
    "signal_targets",
)

# How a process holding several sockets on one port is summed up: the most server-like.
_STATUS_RANK = {"LISTEN": 0, "ESTABLISHED": 1}


def occupiers_by_port(ports: Collection[int] | None = None) -> dict[int, list[Occupier]]:
    """Who holds each of ``ports``, from ONE snapshot of the socket table (cheap for many).

    Holders come first, listeners before connections, then by PID (a forked server's master
    usually first); sockets whose process this user cannot see come next as ``pid=None``
    occupiers with the socket's uid; a port held only by TIME_WAIT (or similar) sockets gets
    one ``pid=None`` occupier with that state.

    :param ports: the ports to look at (validated by the caller); None for every bound port
    :return: port to occupiers; with ``ports`` given, every one of them is a key (an empty
        list when nothing holds it)
    :raises PermissionDeniedError: when the OS hides the socket table itself (macOS, no root).
    """
    with psutil_errors(None):
        entries = socket_table(ports)
    by_port: dict[int, list[SocketEntry]] = {p: [] for p in ports or ()}
    for entry in entries:
        by_port.setdefault(entry.port, []).append(entry)
    return {port: _occupiers(port, found) for port, found in by_port.items()}


def _occupiers(port: int, entries: list[SocketEntry]) -> list[Occupier]:
    per_pid: dict[int, list[SocketEntry]] = {}
    hidden: dict[int | None, list[SocketEntry]] = {}
    orphans: list[SocketEntry] = []
    for entry in entries:
        for pid in entry.pids:
            per_pid.setdefault(pid, []).append(entry)
        if not entry.pids:
            (orphans if entry.orphan else hidden.setdefault(entry.uid, [])).append(entry)
    found = [o for pid, held in per_pid.items() if (o := _process_occupier(port, pid, held))]
    found.sort(key=lambda o: (_STATUS_RANK.get(o.status, 2), o.pid))
    for uid, held in hidden.items():
        found.append(
            Occupier(
                pid=None,
                process_name=None,
                port=port,
                username=_user_name(uid),
                uid=uid,
                addresses=_addresses(held),
                status=_summary_status(held),
            )
        )
    if not found and orphans:
        found.append(
            Occupier(
                pid=None,
                process_name=None,
                port=port,
                addresses=_addresses(orphans),
                status=_summary_status(orphans),
            )
        )
    return found


def _process_occupier(port: int, pid: int, held: list[SocketEntry]) -> Occupier | None:
    """The occupier record of one process, or None if it has exited meanwhile."""
    # The token is read on both sides of the other reads: if it changed, the PID was
    # recycled meanwhile and the record would mix two processes.
    token = start_token(pid)
    try:
        proc = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return None
    name = cmdline = username = uid = create_time = None
    with proc.oneshot():
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                return None
            create_time = proc.create_time()
            name = proc.name()
        except psutil.NoSuchProcess:
            return None
        except psutil.AccessDenied:
            pass
        with contextlib.suppress(psutil.AccessDenied, psutil.NoSuchProcess):
            cmdline = tuple(proc.cmdline())
        with contextlib.suppress(psutil.AccessDenied, psutil.NoSuchProcess):
            username = proc.username()
        with contextlib.suppress(psutil.AccessDenied, psutil.NoSuchProcess, AttributeError):
            uid = proc.uids().real  # POSIX only
    parent_pids: tuple[int, ...] = ()
    with contextlib.suppress(psutil.AccessDenied, psutil.NoSuchProcess):
        parent_pids = tuple(parent.pid for parent in proc.parents())
    if token is not None and start_token(pid) != token:
        return None
    return Occupier(
        pid=pid,
        process_name=name,
        port=port,
        cmdline=cmdline or (),
        username=username,
        uid=uid,
        create_time=create_time,
        addresses=_addresses(held),
        status=_summary_status(held),
        parent_pids=parent_pids,
        start_token=token,
    )


def _user_name(uid: int | None) -> str | None:
    """The name of user ``uid`` as the system knows it (``root``), or None: the process is
    hidden, its user need not be."""
    if uid is None:
        return None
    try:
        import pwd
    except ImportError:  # pragma: no cover - Windows
        return None
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


def _addresses(entries: list[SocketEntry]) -> tuple[str, ...]:
    return tuple(sorted({e.address for e in entries}, key=lambda a: (":" in a, a)))


def _summary_status(entries: list[SocketEntry]) -> str:
    return min((e.status for e in entries), key=lambda s: (_STATUS_RANK.get(s, 2), s))


def holders_of(occupiers: Collection[Occupier]) -> list[Occupier]:
    """The occupiers that are processes (seen or not), as opposed to TIME_WAIT leftovers."""
    return [o for o in occupiers if o.pid is not None or o.status not in ORPHAN_STATES]


def signal_targets(
    port: int, *, allow_other_users: bool = False
) -> tuple[list[Occupier], list[Occupier]]:
    """Who a kill of ``port`` would signal, checked as the kill checks them: every occupier,
    and the holders among them (what ``kill-port --dry-run`` shows).

    :raises PermissionDeniedError: when any holder may not be signalled (then none is).
    """
    occupiers = occupiers_by_port((port,))[port]
    holders = holders_of(occupiers)
    for holder in holders:
        denied = refusal(holder, allow_other_users=allow_other_users)
        if denied is not None:
            raise denied
    return occupiers, holders


def refusal(occupier: Occupier, *, allow_other_users: bool = False) -> PermissionDeniedError | None:
    """Why aioports will not signal ``occupier``, as the error to raise, or None when it may.

    Never pid 1, ourselves, any of our ancestors or our process-group leader (killing them
    would take the caller down), nor a process whose start time is unknown (its identity
    cannot be re-checked), and another user's process only for root and only when asked.
    """
    pid = occupier.pid
    if pid is None:
        uid = "" if occupier.uid is None else f" (uid {occupier.uid})"
        return PermissionDeniedError(
            f"port {occupier.port} is held by a process this user cannot see{uid}; "
            "run as that user or as root to find and stop it",
            reason=DenialReason.HIDDEN_PROCESS,
        )
    name = f"{occupier.process_name or 'process'} (PID {pid})"
    protected = _protection(pid)
    if protected is not None:
        return PermissionDeniedError(
            f"refusing to signal {name}: {protected}",
            pid=pid,
            reason=DenialReason.PROTECTED_PROCESS,
        )
    if occupier.create_time is None:
        return PermissionDeniedError(
            f"refusing to signal {name}: its start time is unreadable, "
            "so a recycled PID could not be told apart from it",
            pid=pid,
            reason=DenialReason.UNKNOWN_START,
        )
    if _same_user(occupier):
        return None
    owner = occupier.username or (f"uid {occupier.uid}" if occupier.uid is not None else None)
    whose = f"user {owner}" if owner else "an unknown user"
    if not allow_other_users:
        message = (
            f"refusing to signal {name}: it belongs to {whose}; "
            "as root, pass allow_other_users=True to allow it"
        )
    elif not _is_root():
        message = f"refusing to signal {name}: it belongs to {whose} and this user is not root"
    else:
        return None
    return PermissionDeniedError(message, pid=pid, reason=DenialReason.OTHER_USER)


def _protection(pid: int) -> str | None:
    """Why ``pid`` is one of the processes whose death would take this one down, if it is."""
    if pid == 1:
        return "PID 1 is the init process"
    if pid == os.getpid():
        return "it is this process"
    if pid == os.getppid():
        return "it is this process's parent"
    if hasattr(os, "getpgrp") and pid == os.getpgrp():
        return "it leads this process's process group"
    if pid in _ancestors():
        # A shell between us and the holder (``sh -c 'aioports --kill-port N'`` run by the
        # server itself) must not hide it: every ancestor is protected, not just the parent.
        return "it is an ancestor of this process"
    return None


def _ancestors() -> set[int]:
    with contextlib.suppress(psutil.Error):
        return {parent.pid for parent in psutil.Process().parents()}
    return set()  # pragma: no cover - the ancestry is unreadable


def _same_user(occupier: Occupier) -> bool:
    if hasattr(os, "geteuid"):
        return occupier.uid is not None and occupier.uid in (os.getuid(), os.geteuid())
    with contextlib.suppress(psutil.Error):  # pragma: no cover - Windows
        return occupier.username == psutil.Process().username()
    return False  # pragma: no cover


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def identity_of(occupier: Occupier) -> ProcessIdentity:
    """The identity a kill re-checks before each signal: the holder as it was found.

    Only for occupiers :func:`refusal` let through (they have a PID and a start time).
    """
    assert occupier.pid is not None
    assert occupier.create_time is not None
    return ProcessIdentity(occupier.pid, occupier.create_time, occupier.start_token)
