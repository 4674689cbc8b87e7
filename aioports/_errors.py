"""The exception tree of aioports.

Every error the library raises derives from :class:`AioportsError`::

    AioportsError
    ├─ InvalidPortError(AioportsError, ValueError)        not an int in 1-65535
    ├─ InvalidRangeError(AioportsError, ValueError)       empty, inverted or out-of-bounds range
    ├─ InvalidMetadataError(AioportsError, ValueError)    metadata that is not a JSON object
    ├─ PortUnavailableError                               a port that cannot be handed out
    │  ├─ PortInUseError                                  an OS process holds it
    │  │  └─ KillFailedError                              ... and reserve()'s kill did not free it
    │  ├─ PortAlreadyAllocatedError                       a live registry entry holds it
    │  └─ NoFreePortError                                 the whole range is held or busy
    ├─ RegistryError                                      the shared registry file
    │  ├─ RegistryCorruptError                            unreadable, foreign or newer schema
    │  └─ RegistryLockTimeoutError(RegistryError, TimeoutError)
    ├─ PermissionDeniedError(AioportsError, PermissionError)   .reason: a DenialReason
    └─ ProcessGoneError(AioportsError, ProcessLookupError)

Context lives in read-only attributes; the message is built from them, and every
class pickles (``__reduce__``) so errors survive a trip between processes.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._models import Allocation, KillResult, Occupier, PortRange

__all__ = (
    "AioportsError",
    "DenialReason",
    "InvalidMetadataError",
    "InvalidPortError",
    "InvalidRangeError",
    "KillFailedError",
    "NoFreePortError",
    "PermissionDeniedError",
    "PortAlreadyAllocatedError",
    "PortInUseError",
    "PortUnavailableError",
    "ProcessGoneError",
    "RegistryCorruptError",
    "RegistryError",
    "RegistryLockTimeoutError",
)


class AioportsError(Exception):
    """Base class of every error aioports raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self._message = message

    def __str__(self) -> str:
        return self._message

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self._message,))


class InvalidPortError(AioportsError, ValueError):
    """Raised when a port is not an integer from 1 to 65535 (``bool`` is not a port)."""

    def __init__(self, value: object) -> None:
        super().__init__(f"invalid port {value!r}: a port must be an integer from 1 to 65535")
        self._value = value

    @property
    def value(self) -> object:
        """What the caller passed."""
        return self._value

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self._value,))


class InvalidRangeError(AioportsError, ValueError):
    """Raised when a port range is malformed, empty, inverted or outside 1-65535."""

    def __init__(self, value: object, reason: str) -> None:
        super().__init__(
            f"invalid port range {value!r}: {reason} "
            "(a range is START-END with 1 <= START <= END <= 65535)"
        )
        self._value = value
        self._reason = reason

    @property
    def value(self) -> object:
        """What the caller passed."""
        return self._value

    @property
    def reason(self) -> str:
        """What is wrong with it."""
        return self._reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self._value, self._reason))


class InvalidMetadataError(AioportsError, ValueError):
    """Raised when allocation metadata is not a JSON object with string keys."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"invalid metadata: {reason}")
        self._reason = reason

    @property
    def reason(self) -> str:
        """What is wrong with it."""
        return self._reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self._reason,))


class PortUnavailableError(AioportsError):
    """Base class of the errors that say a port (or a whole range) cannot be handed out."""

    def __init__(self, port: int, message: str | None = None) -> None:
        super().__init__(message or f"port {port} is unavailable")
        self._port = port

    @property
    def port(self) -> int:
        """The port asked for (for :class:`NoFreePortError`, the first of the range)."""
        return self._port

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self._port, self._message))


class PortInUseError(PortUnavailableError):
    """Raised by ``reserve`` when an OS process holds the port and killing was not asked for."""

    def __init__(self, port: int, occupier: Occupier | None = None) -> None:
        super().__init__(port, f"port {port} is in use{_held_by(occupier)}")
        self._occupier = occupier

    @property
    def occupier(self) -> Occupier | None:
        """Who holds the port, when it could be found."""
        return self._occupier

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self._port, self._occupier))


def _held_by(occupier: Occupier | None) -> str:
    if occupier is None:
        return ""
    name = occupier.process_name or "unknown process"
    pid = "unknown" if occupier.pid is None else str(occupier.pid)
    return f" by {name} (PID {pid})"


class KillFailedError(PortInUseError):
    """Raised by ``reserve(..., kill_if_occupied=True)`` when the kill did not free the port
    (the holder survived the signal, or the port stayed busy after it exited); nothing is
    recorded."""

    def __init__(self, port: int, occupier: Occupier | None, result: KillResult) -> None:
        PortUnavailableError.__init__(
            self, port, f"port {port} is still in use{_held_by(occupier)}: {result.message}"
        )
        self._occupier = occupier
        self._result = result

    @property
    def result(self) -> KillResult:
        """What the kill did."""
        return self._result

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self._port, self._occupier, self._result))


class PortAlreadyAllocatedError(PortUnavailableError):
    """Raised when a live registry entry already holds the port asked for."""

    def __init__(self, port: int, allocation: Allocation) -> None:
        super().__init__(
            port,
            f"port {port} is already allocated (by PID {allocation.pid} on "
            f"{allocation.hostname} at {allocation.allocated_at.isoformat()})",
        )
        self._allocation = allocation

    @property
    def allocation(self) -> Allocation:
        """The registry entry that holds the port."""
        return self._allocation

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self._port, self._allocation))


class NoFreePortError(PortUnavailableError):
    """Raised when every port of the range is allocated, busy or not bindable."""

    def __init__(self, range: PortRange, *, needed: int = 1, allocated: int, busy: int) -> None:
        what = "free port" if needed == 1 else f"{needed} free ports"
        super().__init__(
            range.start,
            f"no {what} in range {range}: {allocated} allocated in the registry, "
            f"{busy} busy or not bindable, {len(range)} in all",
        )
        self._range = range
        self._needed = needed
        self._allocated = allocated
        self._busy = busy

    @property
    def range(self) -> PortRange:
        """The range that was searched."""
        return self._range

    @property
    def needed(self) -> int:
        """How many ports were asked for."""
        return self._needed

    @property
    def allocated(self) -> int:
        """How many ports of the range the registry holds."""
        return self._allocated

    @property
    def busy(self) -> int:
        """How many ports of the range could not be bound."""
        return self._busy

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_no_free_port, (self._range, self._needed, self._allocated, self._busy))


def _rebuild_no_free_port(
    range: PortRange, needed: int, allocated: int, busy: int
) -> NoFreePortError:
    return NoFreePortError(range, needed=needed, allocated=allocated, busy=busy)


class RegistryError(AioportsError):
    """Base class of the errors about the registry file."""

    def __init__(self, path: str | Path, message: str) -> None:
        super().__init__(message)
        self._path = Path(path)

    @property
    def path(self) -> Path:
        """The registry file."""
        return self._path

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self._path, self._message))


class RegistryCorruptError(RegistryError):
    """Raised when the registry is not a registry aioports can read; it is never overwritten.

    ``PortManager.repair()`` (CLI: ``aioports repair``) moves it aside and starts afresh.
    """

    def __init__(self, path: str | Path, reason: str, *, newer: bool = False) -> None:
        advice = (
            "upgrade aioports to read it (repair would set its allocations aside)"
            if newer
            else "run 'aioports repair' to move it aside and start a fresh one"
        )
        super().__init__(path, f"registry {path} is unusable: {reason}; {advice}")
        self._reason = reason
        self._newer = newer

    @property
    def reason(self) -> str:
        """What is wrong with the file."""
        return self._reason

    @property
    def newer(self) -> bool:
        """True when a newer aioports wrote it: the file is fine, this version is too old."""
        return self._newer

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_registry_corrupt, (self._path, self._reason, self._newer))


def _rebuild_registry_corrupt(path: Path, reason: str, newer: bool) -> RegistryCorruptError:
    return RegistryCorruptError(path, reason, newer=newer)


class RegistryLockTimeoutError(RegistryError, TimeoutError):
    """Raised when another process held the registry lock for longer than ``lock_timeout``."""

    def __init__(self, path: str | Path, timeout: float) -> None:
        super().__init__(
            path, f"timed out after {timeout:g} s waiting for the lock on registry {path}"
        )
        self._timeout = timeout

    @property
    def timeout(self) -> float:
        """How long we waited, in seconds."""
        return self._timeout

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self._path, self._timeout))


class DenialReason(enum.StrEnum):
    """Why a :class:`PermissionDeniedError` was raised: who said no, and on what grounds."""

    #: the OS refused: ``EACCES``/``EPERM`` on a bind, a file or a signal, or psutil's
    #: ``AccessDenied`` on a process or the socket table
    OS_REFUSED = "os_refused"
    #: aioports' kill policy: PID 1, the calling process, one of its ancestors or its
    #: process-group leader (killing it would take the caller down)
    PROTECTED_PROCESS = "protected_process"
    #: aioports' kill policy: another user's process, without ``allow_other_users=True`` or
    #: without root to act on it
    OTHER_USER = "other_user"
    #: aioports' kill policy: the holder's start time is unreadable, so a recycled PID could
    #: not be told apart from it
    UNKNOWN_START = "unknown_start"
    #: the OS hides which process holds the port (another user's socket, without root)
    HIDDEN_PROCESS = "hidden_process"


class PermissionDeniedError(AioportsError, PermissionError):
    """Raised when the OS refuses an operation (a bind, a signal, a file) or a kill policy does;
    :attr:`reason` says which."""

    def __init__(
        self,
        message: str,
        *,
        pid: int | None = None,
        reason: DenialReason = DenialReason.OS_REFUSED,
    ) -> None:
        super().__init__(message)
        self._pid = pid
        self._reason = DenialReason(reason)

    @property
    def pid(self) -> int | None:
        """The process concerned, if any."""
        return self._pid

    @property
    def reason(self) -> DenialReason:
        """Why it was denied."""
        return self._reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_permission_denied, (self._message, self._pid, self._reason))


def _rebuild_permission_denied(
    message: str, pid: int | None, reason: DenialReason
) -> PermissionDeniedError:
    return PermissionDeniedError(message, pid=pid, reason=reason)


class ProcessGoneError(AioportsError, ProcessLookupError):
    """Raised when a process exited, or its PID was reused, before aioports could act on it."""

    def __init__(self, pid: int, message: str | None = None) -> None:
        super().__init__(message or f"process {pid} no longer exists")
        self._pid = pid

    @property
    def pid(self) -> int:
        """The process that is gone."""
        return self._pid

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self._pid, self._message))
