"""Occupiers: which processes hold a port, whether aioports may kill them, and the signals.

Plain sync functions, run in a worker thread by the async layer (``_takeover.py``). This is
where psutil's errors become aioports errors (:func:`map_psutil_error`), so no psutil type
reaches a caller.

A process is its PID *and* its start time: every signal is preceded by a check that the PID
still names the process that was detected, so a PID recycled in between is never hit. On
Linux the check is made through a pidfd opened *before* it, which closes even the tiny gap
between the check and the signal.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Collection, Iterator

import psutil

from ._errors import AioportsError, PermissionDeniedError, ProcessGoneError
from ._models import Occupier
from ._sockets import ORPHAN_STATES, SocketEntry, socket_table

__all__ = (
    "ORPHAN_STATES",
    "is_gone",
    "map_psutil_error",
    "occupiers_by_port",
    "psutil_errors",
    "refusal",
    "send_signal",
    "signal_name",
)

# How a process holding several sockets on one port is summed up: the most server-like.
_STATUS_RANK = {"LISTEN": 0, "ESTABLISHED": 1}
# Two reads of one process's start time agree to the tick; a reused PID starts later.
_START_TIME_TOLERANCE = 0.01


def map_psutil_error(exc: psutil.Error, pid: int | None = None) -> AioportsError:
    """The aioports error that says what ``exc`` says (the one mapping, tested exhaustively).

    :param pid: the process concerned, when ``exc`` does not carry it
    """
    own_pid: int | None = getattr(exc, "pid", None)
    pid = own_pid if own_pid is not None else pid
    if isinstance(exc, psutil.NoSuchProcess):  # ZombieProcess too: a zombie is dead
        return ProcessGoneError(pid if pid is not None else -1, f"process {pid} has exited")
    if isinstance(exc, psutil.AccessDenied):
        what = "the socket table" if pid is None else f"process {pid}"
        return PermissionDeniedError(f"the OS refused access to {what}", pid=pid)
    return AioportsError(f"psutil failed on process {pid}: {exc}")


@contextlib.contextmanager
def psutil_errors(pid: int | None) -> Iterator[None]:
    """Re-raise any psutil error as its aioports error, ``from`` the original."""
    try:
        yield
    except psutil.Error as exc:
        raise map_psutil_error(exc, pid) from exc


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
    )


def _addresses(entries: list[SocketEntry]) -> tuple[str, ...]:
    return tuple(sorted({e.address for e in entries}, key=lambda a: (":" in a, a)))


def _summary_status(entries: list[SocketEntry]) -> str:
    return min((e.status for e in entries), key=lambda s: (_STATUS_RANK.get(s, 2), s))


def refusal(occupier: Occupier, *, allow_other_users: bool = False) -> str | None:
    """Why aioports will not signal ``occupier``, or None when it may.

    Never pid 1, ourselves, our parent or our process-group leader (killing them would take
    the caller down), nor a process whose start time is unknown (its identity cannot be
    re-checked), and another user's process only for root and only when asked.
    """
    pid = occupier.pid
    if pid is None:
        uid = "" if occupier.uid is None else f" (uid {occupier.uid})"
        return (
            f"port {occupier.port} is held by a process this user cannot see{uid}; "
            "run as that user or as root to find and stop it"
        )
    name = f"{occupier.process_name or 'process'} (PID {pid})"
    if pid == 1:
        return f"refusing to signal {name}: PID 1 is the init process"
    if pid == os.getpid():
        return f"refusing to signal {name}: it is this process"
    if pid == os.getppid():
        return f"refusing to signal {name}: it is this process's parent"
    if hasattr(os, "getpgrp") and pid == os.getpgrp():
        return f"refusing to signal {name}: it leads this process's process group"
    if occupier.create_time is None:
        return (
            f"refusing to signal {name}: its start time is unreadable, "
            "so a recycled PID could not be told apart from it"
        )
    if _same_user(occupier):
        return None
    owner = occupier.username or (f"uid {occupier.uid}" if occupier.uid is not None else None)
    whose = f"user {owner}" if owner else "an unknown user"
    if not allow_other_users:
        return (
            f"refusing to signal {name}: it belongs to {whose}; "
            "as root, pass allow_other_users=True to allow it"
        )
    if not _is_root():
        return f"refusing to signal {name}: it belongs to {whose} and this user is not root"
    return None


def _same_user(occupier: Occupier) -> bool:
    if hasattr(os, "geteuid"):
        return occupier.uid is not None and occupier.uid in (os.getuid(), os.geteuid())
    with contextlib.suppress(psutil.Error):  # pragma: no cover - Windows
        return occupier.username == psutil.Process().username()
    return False  # pragma: no cover


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _identity_holds(pid: int, create_time: float | None) -> bool:
    """Whether ``pid`` is still the live (non-zombie) process that started at ``create_time``.

    :raises PermissionDeniedError: when the process cannot be inspected.
    """
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        started = proc.create_time()
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied as exc:
        raise map_psutil_error(exc, pid) from exc
    return create_time is not None and abs(started - create_time) <= _START_TIME_TOLERANCE


def send_signal(occupier: Occupier, *, force: bool) -> bool:
    """Send SIGTERM (SIGKILL with ``force``; Windows: TerminateProcess) to exactly the
    process detected.

    :return: True if it was signalled; False if it had already exited, is a zombie, or its
        PID now names another process (nothing is sent then).
    :raises PermissionDeniedError: when the OS refuses the signal.
    """
    pid = occupier.pid
    assert pid is not None
    if hasattr(os, "pidfd_open") and hasattr(signal, "pidfd_send_signal"):
        return _pidfd_signal(pid, occupier.create_time, signal.SIGKILL if force else signal.SIGTERM)
    if not _identity_holds(pid, occupier.create_time):  # pragma: no cover - not Linux
        return False
    try:  # pragma: no cover - not Linux
        proc = psutil.Process(pid)
        if force:
            proc.kill()
        else:
            proc.terminate()
    except psutil.NoSuchProcess:  # pragma: no cover
        return False
    except psutil.Error as exc:  # pragma: no cover
        raise map_psutil_error(exc, pid) from exc
    return True  # pragma: no cover


def _pidfd_signal(pid: int, create_time: float | None, signum: int) -> bool:
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return False
    try:
        # The pidfd pins the process: if the PID is recycled after this check, the signal
        # below fails with ESRCH instead of reaching the newcomer.
        if not _identity_holds(pid, create_time):
            return False
        try:
            signal.pidfd_send_signal(pidfd, signum)
        except ProcessLookupError:
            return False
        except PermissionError as exc:
            raise PermissionDeniedError(
                f"the OS refused to signal process {pid}: {exc.strerror}", pid=pid
            ) from exc
    finally:
        os.close(pidfd)
    return True


def is_gone(occupier: Occupier) -> bool:
    """Whether the detected process has exited: gone, a zombie, or its PID reused.

    Fails closed: a process that cannot be inspected counts as alive.
    """
    assert occupier.pid is not None
    try:
        return not _identity_holds(occupier.pid, occupier.create_time)
    except PermissionDeniedError:
        return False


def signal_name(*, force: bool) -> str:
    """What :func:`send_signal` sends, for messages and results."""
    if sys.platform == "win32":  # pragma: no cover - Windows has no signals to speak of
        return "TerminateProcess"
    return "SIGKILL" if force else "SIGTERM"
