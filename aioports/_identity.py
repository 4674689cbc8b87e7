"""Process identity: a process is its PID *and* its start, decided here and nowhere else.

The start is pinned two ways. ``create_time`` is psutil's wall-clock start time, which
people can read; it moves when the system clock is stepped (NTP, a resumed VM), because it
is derived from the boot time. The *start token* is clock-independent where the OS allows
it: on Linux the boot id plus the start in clock ticks since boot, from ``/proc/<pid>/stat``.
:func:`same_process` trusts the tokens, exactly, when both sides have one, and the wall
clock (within one clock tick) only otherwise.

Two callers ask "is it still that process?" with two policies over that one rule: the
registry (:func:`dead_owners`) and the kill path (:func:`still_running`, :func:`is_gone`)
both count a process they may not inspect as alive, and a signal is only ever sent after
the rule has held. On Linux the signal goes through a pidfd opened *before* the check, so a
PID recycled after the check gets ESRCH instead of the signal.

This is the one place where psutil's errors become aioports errors (:func:`map_psutil_error`).
Plain sync functions: callers run them in a worker thread.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterable, Iterator

import psutil

from ._errors import AioportsError, DenialReason, PermissionDeniedError, ProcessGoneError
from ._models import ProcessIdentity

__all__ = (
    "ProcessIdentity",
    "dead_owners",
    "is_gone",
    "map_psutil_error",
    "process_identity",
    "psutil_errors",
    "same_process",
    "send_signal",
    "signal_name",
    "start_token",
    "still_running",
)

# Two reads of one process's wall-clock start agree to the tick (psutil derives it from
# start ticks at 100 Hz); used only where there is no start token to compare exactly.
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
        return PermissionDeniedError(
            f"the OS refused access to {what}", pid=pid, reason=DenialReason.OS_REFUSED
        )
    return AioportsError(f"psutil failed on process {pid}: {exc}")


@contextlib.contextmanager
def psutil_errors(pid: int | None) -> Iterator[None]:
    """Re-raise any psutil error as its aioports error, ``from`` the original."""
    try:
        yield
    except psutil.Error as exc:
        raise map_psutil_error(exc, pid) from exc


def process_identity(pid: int) -> ProcessIdentity:
    """The identity of a live process: its start time and, where the OS has one, its token.

    :raises ProcessGoneError: when no such process exists (or it is a zombie).
    :raises PermissionDeniedError: when the OS hides it from this user.
    """
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            raise ProcessGoneError(pid, f"process {pid} has exited (zombie)")
        create_time = proc.create_time()
    except psutil.NoSuchProcess as exc:
        raise ProcessGoneError(pid) from exc
    except psutil.AccessDenied as exc:
        raise PermissionDeniedError(
            f"cannot inspect process {pid}: access denied",
            pid=pid,
            reason=DenialReason.OS_REFUSED,
        ) from exc
    except psutil.Error as exc:
        raise map_psutil_error(exc, pid) from exc
    return ProcessIdentity(pid, create_time, start_token(pid))


def same_process(recorded: ProcessIdentity, current: ProcessIdentity) -> bool:
    """The one rule: whether two looks at a PID saw the same process.

    Tokens decide, exactly, when both have one; otherwise the wall-clock starts must agree
    within one clock tick.
    """
    if recorded.pid != current.pid:
        return False
    if recorded.token is not None and current.token is not None:
        return recorded.token == current.token
    return abs(recorded.create_time - current.create_time) <= _START_TIME_TOLERANCE


def still_running(recorded: ProcessIdentity) -> bool:
    """Whether ``recorded`` is still a live (non-zombie) process: False when it is gone or
    its PID now names another process.

    :raises PermissionDeniedError: when the process cannot be inspected.
    """
    try:
        current = process_identity(recorded.pid)
    except ProcessGoneError:
        return False
    return same_process(recorded, current)


def is_gone(recorded: ProcessIdentity) -> bool:
    """Whether ``recorded`` has provably exited: gone, a zombie, or its PID reused.

    Fails closed: a process that cannot be inspected counts as alive.
    """
    try:
        return not still_running(recorded)
    except PermissionDeniedError:
        return False


def dead_owners(identities: Iterable[ProcessIdentity]) -> set[ProcessIdentity]:
    """The registry's rule: the owners that are provably gone or replaced (access denied
    counts as alive, so a lease is never reclaimed on a guess)."""
    return {identity for identity in identities if is_gone(identity)}


def send_signal(recorded: ProcessIdentity, *, force: bool) -> bool:
    """Send SIGTERM (SIGKILL with ``force``; Windows: TerminateProcess) to exactly the
    process ``recorded`` names, after checking it still is that process.

    :return: True if it was signalled; False if it had already exited, is a zombie, or its
        PID now names another process (nothing is sent then).
    :raises PermissionDeniedError: when the process cannot be inspected or the OS refuses
        the signal.
    """
    if hasattr(os, "pidfd_open") and hasattr(signal, "pidfd_send_signal"):
        return _pidfd_signal(recorded, signal.SIGKILL if force else signal.SIGTERM)
    if not still_running(recorded):  # pragma: no cover - not Linux
        return False
    try:  # pragma: no cover - not Linux
        proc = psutil.Process(recorded.pid)
        if force:
            proc.kill()
        else:
            proc.terminate()
    except psutil.NoSuchProcess:  # pragma: no cover
        return False
    except psutil.Error as exc:  # pragma: no cover
        raise map_psutil_error(exc, recorded.pid) from exc
    return True  # pragma: no cover


def _pidfd_signal(recorded: ProcessIdentity, signum: int) -> bool:
    pid = recorded.pid
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return False
    try:
        # The pidfd pins the process: if the PID is recycled after this check, the signal
        # below fails with ESRCH instead of reaching the newcomer.
        if not still_running(recorded):
            return False
        try:
            signal.pidfd_send_signal(pidfd, signum)
        except ProcessLookupError:
            return False
        except PermissionError as exc:
            raise PermissionDeniedError(
                f"the OS refused to signal process {pid}: {exc.strerror}",
                pid=pid,
                reason=DenialReason.OS_REFUSED,
            ) from exc
    finally:
        os.close(pidfd)
    return True


def signal_name(*, force: bool) -> str:
    """What :func:`send_signal` sends, for messages and results."""
    if sys.platform == "win32":  # pragma: no cover - Windows has no signals to speak of
        return "TerminateProcess"
    return "SIGKILL" if force else "SIGTERM"


def start_token(pid: int) -> str | None:
    """``linux:<boot id>:<start ticks>``, or None where no clock-independent start exists."""
    if sys.platform != "linux":
        return None
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as file:
            boot = file.read().strip()
        with open(f"/proc/{pid}/stat", "rb") as file:
            stat = file.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = stat[stat.rfind(b")") + 2 :].split()
    try:
        start_ticks = int(fields[19])  # field 22 of proc_pid_stat(5)
    except (IndexError, ValueError):
        return None
    return f"linux:{boot}:{start_ticks}"
