"""Process identity through psutil: a process is its PID *and* its start.

The start is pinned two ways. ``create_time`` is psutil's wall-clock start time, which
people can read; it moves when the system clock is stepped (NTP, a resumed VM), because it
is derived from the boot time. ``start token`` is clock-independent where the OS allows it:
on Linux the boot id plus the start in clock ticks since boot, from ``/proc/<pid>/stat``.
Owner checks trust the token when both sides have one, and the wall clock only otherwise.

Plain sync functions: callers run them in a worker thread. psutil errors are translated
here into aioports errors, so no psutil type reaches a caller.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass

import psutil

from ._errors import PermissionDeniedError, ProcessGoneError

__all__ = ("Identity", "dead_owners", "process_identity", "process_start_time", "same_process")

# Two reads of one process's start time agree to the tick; a reused PID starts later.
_START_TIME_TOLERANCE = 0.01


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a PID was when it was looked up."""

    pid: int
    create_time: float
    token: str | None


def process_start_time(pid: int) -> float:
    """The wall-clock start time of a live process.

    :raises ProcessGoneError: when no such process exists (or it is a zombie).
    :raises PermissionDeniedError: when the OS hides it from this user.
    """
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            raise ProcessGoneError(pid, f"process {pid} has exited (zombie)")
        return proc.create_time()
    except psutil.NoSuchProcess as exc:
        raise ProcessGoneError(pid) from exc
    except psutil.AccessDenied as exc:
        raise PermissionDeniedError(
            f"cannot inspect process {pid}: access denied", pid=pid
        ) from exc


def process_identity(pid: int) -> Identity:
    """The identity of a live process: its start time and, where the OS has one, its token.

    :raises ProcessGoneError: when no such process exists (or it is a zombie).
    :raises PermissionDeniedError: when the OS hides it from this user.
    """
    create_time = process_start_time(pid)
    return Identity(pid, create_time, _start_token(pid))


def same_process(pid: int, create_time: float, token: str | None = None) -> bool:
    """Whether ``pid`` is still the process recorded as ``create_time`` / ``token``.

    Fails closed: a process that cannot be inspected counts as the same one.
    """
    try:
        now = process_identity(pid)
    except ProcessGoneError:
        return False
    except PermissionDeniedError:
        return True
    if token is not None and now.token is not None:
        return token == now.token
    return abs(now.create_time - create_time) <= _START_TIME_TOLERANCE


def dead_owners(
    owners: Iterable[tuple[int, float, str | None]],
) -> set[tuple[int, float, str | None]]:
    """The ``(pid, create_time, token)`` owners whose process is provably gone or replaced."""
    return {owner for owner in owners if not same_process(*owner)}


def _start_token(pid: int) -> str | None:
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
