"""The exception tree of aioports.

Every error the library raises derives from :class:`AioportsError`::

    AioportsError
    ├─ InvalidPortError(AioportsError, ValueError)        not an int in 1-65535
    ├─ InvalidRangeError(AioportsError, ValueError)       empty, inverted or out-of-bounds range
    ├─ InvalidMetadataError(AioportsError, ValueError)    metadata that is not a JSON object
    ├─ InvalidArgumentError(AioportsError, ValueError)    any other unusable argument
    │  └─ ArgumentTypeError(InvalidArgumentError, TypeError)  ... of the wrong type
    ├─ PortUnavailableError                               a port that cannot be handed out
    │  ├─ PortInUseError                                  an OS process holds it
    │  │  └─ KillFailedError                              ... and reserve()'s kill did not free it
    │  ├─ PortAlreadyAllocatedError                       a live registry entry holds it
    │  └─ NoFreePortError                                 the whole range is held or busy
    ├─ RegistryError                                      the shared registry file
    │  ├─ RegistryCorruptError                            unreadable, foreign or newer schema
    │  └─ RegistryLockTimeoutError(RegistryError, TimeoutError)
    ├─ PermissionDeniedError(AioportsError, PermissionError)   .reason: a DenialReason
    ├─ EnvFileError                                       a .env file aioports cannot update
    ├─ ConfigError                                        an unusable range setting
    │  └─ ManifestError(ConfigError, ValueError)          an unusable project manifest
    ├─ ProcessGoneError(AioportsError, ProcessLookupError)
    └─ WaitTimeoutError(AioportsError, TimeoutError)      a wait's condition did not hold in time

Context lives in read-only attributes; the message is built from them. Every class
pickles, so errors survive a trip between processes: the base records the arguments each
error was constructed with (keyword-only ones included) and one ``__reduce__`` rebuilds it
from them.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar, overload

if TYPE_CHECKING:
    from ._models import Allocation, KillResult, Occupier, PortRange

T = TypeVar("T")

__all__ = (
    "AioportsError",
    "ArgumentTypeError",
    "ConfigError",
    "DenialReason",
    "EnvFileError",
    "InvalidArgumentError",
    "InvalidMetadataError",
    "InvalidPortError",
    "InvalidRangeError",
    "KillFailedError",
    "ManifestError",
    "NoFreePortError",
    "PermissionDeniedError",
    "PortAlreadyAllocatedError",
    "PortInUseError",
    "PortUnavailableError",
    "ProcessGoneError",
    "RegistryCorruptError",
    "RegistryError",
    "RegistryLockTimeoutError",
    "WaitTimeoutError",
)


class AioportsError(Exception):
    """Base class of every error aioports raises on purpose."""

    # What the error was constructed with, so that one __reduce__ rebuilds every class.
    _arguments: tuple[tuple[Any, ...], dict[str, Any]]

    def __new__(cls, *args: Any, **kwargs: Any) -> Self:
        self = super().__new__(cls, *args)
        self._arguments = (args, kwargs)
        return self

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self._message = message

    def __str__(self) -> str:
        return self._message

    def __reduce__(self) -> tuple[Any, ...]:
        args, kwargs = self._arguments
        return (_rebuild, (type(self), args, kwargs))


def _rebuild(cls: type[AioportsError], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return cls(*args, **kwargs)


class Context(Generic[T]):
    """A read-only attribute of an error (``error.port``), which ``__init__`` keeps as
    ``_port``; the string is its documentation."""

    def __init__(self, doc: str) -> None:
        self.__doc__ = doc

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, obj: None, owner: type) -> Context[T]: ...
    @overload
    def __get__(self, obj: object, owner: type) -> T: ...
    def __get__(self, obj: object, owner: type) -> Context[T] | T:
        if obj is None:
            return self
        value: T = getattr(obj, f"_{self._name}")
        return value

    def __set__(self, obj: object, value: T) -> None:
        raise AttributeError(f"{type(obj).__name__}.{self._name} is read-only")


class InvalidPortError(AioportsError, ValueError):
    """Raised when a port is not an integer from 1 to 65535 (``bool`` is not a port)."""

    value: Context[object] = Context("What the caller passed.")

    def __init__(self, value: object) -> None:
        super().__init__(f"invalid port {value!r}: a port must be an integer from 1 to 65535")
        self._value = value


class InvalidRangeError(AioportsError, ValueError):
    """Raised when a port range is malformed, empty, inverted or outside 1-65535."""

    value: Context[object] = Context("What the caller passed.")
    reason: Context[str] = Context("What is wrong with it.")

    def __init__(self, value: object, reason: str) -> None:
        super().__init__(
            f"invalid port range {value!r}: {reason} "
            "(a range is START-END with 1 <= START <= END <= 65535)"
        )
        self._value = value
        self._reason = reason


class InvalidMetadataError(AioportsError, ValueError):
    """Raised when allocation metadata is not a JSON object with string keys."""

    reason: Context[str] = Context("What is wrong with it.")

    def __init__(self, reason: str) -> None:
        super().__init__(f"invalid metadata: {reason}")
        self._reason = reason


def shown(value: object) -> str:
    """``repr(value)``, cut short: a 100,000-character argument must not fill the screen."""
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}..."


class InvalidArgumentError(AioportsError, ValueError):
    """Raised when an argument other than a port, a range or metadata is unusable: a group
    size, roles, an owner PID, a group id, a timeout, a host, a lock timeout, a concurrency."""

    argument: Context[str] = Context("The name of the argument.")
    value: Context[object] = Context("What the caller passed.")

    def __init__(self, argument: str, value: object, message: str) -> None:
        super().__init__(message)
        self._argument = argument
        self._value = value


class ArgumentTypeError(InvalidArgumentError, TypeError):
    """Raised when an argument has the wrong type (``lock_timeout="5"``, ``host=5``)."""


class PortUnavailableError(AioportsError):
    """Base class of the errors that say a port (or a whole range) cannot be handed out."""

    port: Context[int] = Context(
        "The port asked for (for :class:`NoFreePortError`, the first of the range)."
    )

    def __init__(self, port: int, message: str | None = None) -> None:
        super().__init__(message or f"port {port} is unavailable")
        self._port = port


class PortInUseError(PortUnavailableError):
    """Raised by ``reserve`` when an OS process holds the port and killing was not asked for."""

    occupier: Context[Occupier | None] = Context("Who holds the port, when it could be found.")

    def __init__(self, port: int, occupier: Occupier | None = None) -> None:
        super().__init__(port, f"port {port} is in use{_held_by(occupier)}")
        self._occupier = occupier


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

    result: Context[KillResult] = Context("What the kill did.")

    def __init__(self, port: int, occupier: Occupier | None, result: KillResult) -> None:
        PortUnavailableError.__init__(
            self, port, f"port {port} is still in use{_held_by(occupier)}: {result.message}"
        )
        self._occupier = occupier
        self._result = result


class PortAlreadyAllocatedError(PortUnavailableError):
    """Raised when a live registry entry already holds the port asked for."""

    allocation: Context[Allocation] = Context("The registry entry that holds the port.")

    def __init__(self, port: int, allocation: Allocation) -> None:
        super().__init__(
            port,
            f"port {port} is already allocated (by PID {allocation.pid} on "
            f"{allocation.hostname} at {allocation.allocated_at.isoformat()})",
        )
        self._allocation = allocation


class NoFreePortError(PortUnavailableError):
    """Raised when every port of the range is allocated, busy or not bindable."""

    range: Context[PortRange] = Context("The range that was searched.")
    needed: Context[int] = Context("How many ports were asked for.")
    allocated: Context[int] = Context("How many ports of the range the registry holds.")
    busy: Context[int] = Context("How many ports of the range could not be bound.")
    excluded: Context[int] = Context(
        "How many ports of the range are never handed out automatically (browser-unsafe or "
        "reserved by the kernel's ip_local_reserved_ports)."
    )

    def __init__(
        self, range: PortRange, *, needed: int = 1, allocated: int, busy: int, excluded: int = 0
    ) -> None:
        what = "free port" if needed == 1 else f"{needed} free ports"
        skipped = f"{excluded} never handed out automatically, " if excluded else ""
        super().__init__(
            range.start,
            f"no {what} in range {range}: {allocated} allocated in the registry, "
            f"{busy} busy or not bindable, {skipped}{len(range)} in all",
        )
        self._range = range
        self._needed = needed
        self._allocated = allocated
        self._busy = busy
        self._excluded = excluded


class RegistryError(AioportsError):
    """Base class of the errors about the registry file."""

    path: Context[Path] = Context("The registry file.")

    def __init__(self, path: str | Path, message: str) -> None:
        super().__init__(message)
        self._path = Path(path)


class RegistryCorruptError(RegistryError):
    """Raised when the registry is not a registry aioports can read; it is never overwritten.

    ``PortManager.repair()`` (CLI: ``aioports repair``) moves it aside and starts afresh.
    """

    reason: Context[str] = Context("What is wrong with the file.")
    newer: Context[bool] = Context(
        "True when a newer aioports wrote it: the file is fine, this version is too old."
    )

    def __init__(self, path: str | Path, reason: str, *, newer: bool = False) -> None:
        advice = (
            "upgrade aioports to read it (repair would set its allocations aside)"
            if newer
            else "run 'aioports repair' to move it aside and start a fresh one"
        )
        super().__init__(path, f"registry {path} is unusable: {reason}; {advice}")
        self._reason = reason
        self._newer = newer


class RegistryLockTimeoutError(RegistryError, TimeoutError):
    """Raised when another process held the registry lock for longer than ``lock_timeout``."""

    timeout: Context[float] = Context("How long we waited, in seconds.")

    def __init__(self, path: str | Path, timeout: float) -> None:
        super().__init__(
            path, f"timed out after {timeout:g} s waiting for the lock on registry {path}"
        )
        self._timeout = timeout


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

    pid: Context[int | None] = Context("The process concerned, if any.")
    reason: Context[DenialReason] = Context("Why it was denied.")

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


class ProcessGoneError(AioportsError, ProcessLookupError):
    """Raised when a process exited, or its PID was reused, before aioports could act on it."""

    pid: Context[int] = Context("The process that is gone.")

    def __init__(self, pid: int, message: str | None = None) -> None:
        super().__init__(message or f"process {pid} no longer exists")
        self._pid = pid


class ConfigError(AioportsError):
    """Raised when the default range cannot be read: a malformed ``$AIOPORTS_RANGE`` or an
    unusable saved-settings file (the message says which and how to fix it)."""


class ManifestError(ConfigError, ValueError):
    """Raised when a project manifest (``.aioports.toml``, or ``[tool.aioports]`` in
    ``pyproject.toml``), or the project file an app name is read from (``pyproject.toml``,
    ``package.json``), cannot be used: not TOML (JSON), an unknown key, a value of the wrong
    type, a bad port or range, a bad service or environment variable name, two services with
    one env name or one preferred port. The message names the file, the key and what is
    allowed.

    A ``ValueError`` as :class:`tomllib.TOMLDecodeError` is: what the user wrote is at fault
    (the command line exits 2 for it, as for any bad input)."""

    path: Context[Path] = Context("The file.")
    key: Context[str | None] = Context(
        "The dotted key at fault (``tool.aioports.services.web.env``), or None for the file."
    )
    reason: Context[str] = Context("What is wrong, and what is allowed.")

    def __init__(self, path: str | Path, key: str | None, reason: str) -> None:
        where = "" if key is None else f" at {key}"
        super().__init__(f"{path} is unusable{where}: {reason}")
        self._path = Path(path)
        self._key = key
        self._reason = reason


class EnvFileError(AioportsError):
    """Raised when ``aioports env --write`` (``write_block``) cannot update a ``.env`` file:
    the path is a symbolic link, a folder, a FIFO or a device, its folder is missing, the file
    is too large or has a broken aioports block, or the OS refused the read or the write.
    Nothing was changed."""

    path: Context[Path] = Context("The file.")
    reason: Context[str] = Context("What is wrong.")

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"cannot update {path}: {reason}")
        self._path = Path(path)
        self._reason = reason


class WaitTimeoutError(AioportsError, TimeoutError):
    """Raised by ``wait_until_listening`` and ``wait_until_free`` (``aioports wait``) when the
    port did not reach the condition within the timeout."""

    port: Context[int] = Context("The port waited for.")
    condition: Context[str] = Context("What was waited for: ``listening`` or ``free``.")
    timeout: Context[float] = Context("How long we waited, in seconds.")
    pid: Context[int | None] = Context("The process whose tree had to listen, if one was given.")

    def __init__(
        self, port: int, condition: str, timeout: float, *, pid: int | None = None
    ) -> None:
        if condition == "free":
            what = f"port {port} was still in use after {timeout:g} s"
        else:
            by = "" if pid is None else f" by PID {pid} or a descendant"
            what = f"port {port} was not listening{by} after {timeout:g} s"
        super().__init__(what)
        self._port = port
        self._condition = condition
        self._timeout = timeout
        self._pid = pid
