"""Process identity through psutil: a process is its PID *and* its start time.

Plain sync functions: callers run them in a worker thread. psutil errors are translated
here into aioports errors, so no psutil type reaches a caller.
"""

from __future__ import annotations

from collections.abc import Iterable

import psutil

from ._errors import PermissionDeniedError, ProcessGoneError

__all__ = ("dead_owners", "process_start_time", "same_process")

# Two reads of one process's start time agree to the tick; a reused PID starts later.
_START_TIME_TOLERANCE = 0.01


def process_start_time(pid: int) -> float:
    """The start time of a live process, to pin its identity.

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


def same_process(pid: int, create_time: float) -> bool:
    """Whether ``pid`` is still the process that started at ``create_time``.

    Fails closed: a process that cannot be inspected counts as the same one.
    """
    try:
        return abs(process_start_time(pid) - create_time) <= _START_TIME_TOLERANCE
    except ProcessGoneError:
        return False
    except PermissionDeniedError:
        return True


def dead_owners(owners: Iterable[tuple[int, float]]) -> set[tuple[int, float]]:
    """The ``(pid, create_time)`` pairs whose process is provably gone or replaced."""
    return {owner for owner in owners if not same_process(*owner)}
