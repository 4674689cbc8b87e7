from __future__ import annotations

import pickle
from datetime import UTC, datetime
from pathlib import Path

import pytest

import aioports
from aioports import (
    AioportsError,
    Allocation,
    ArgumentTypeError,
    ConfigError,
    DenialReason,
    EnvFileError,
    InvalidArgumentError,
    InvalidMetadataError,
    InvalidPortError,
    InvalidRangeError,
    KillFailedError,
    KillOutcome,
    KillResult,
    ManifestError,
    NoFreePortError,
    Occupier,
    PermissionDeniedError,
    PortAlreadyAllocatedError,
    PortInUseError,
    PortRange,
    PortUnavailableError,
    ProcessGoneError,
    RegistryCorruptError,
    RegistryError,
    RegistryLockTimeoutError,
    WaitTimeoutError,
)

ALLOCATION = Allocation(
    port=3001,
    allocated_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    metadata={"app": "x"},
    pid=42,
    hostname="box",
)
OCCUPIER = Occupier(pid=99, process_name="node", port=3000)
SURVIVED = KillResult(
    killed=False,
    port=3000,
    pid=99,
    process_name="node",
    pids=(99,),
    signal="SIGTERM",
    message="node (PID 99) did not exit within 0.2 s of SIGTERM",
    occupiers=(OCCUPIER,),
    outcome=KillOutcome.SURVIVED,
)

# (error, attribute name, expected value, text the message must contain)
CASES: list[tuple[AioportsError, str, object, str]] = [
    (AioportsError("plain"), "args", ("plain",), "plain"),
    (InvalidPortError(70000), "value", 70000, "70000"),
    (InvalidRangeError("9-1", "the start is greater than the end"), "reason",
     "the start is greater than the end", "9-1"),
    (InvalidMetadataError("not JSON"), "reason", "not JSON", "not JSON"),
    (PortUnavailableError(3000), "port", 3000, "3000"),
    (PortInUseError(3000, OCCUPIER), "occupier", OCCUPIER, "node (PID 99)"),
    (PortInUseError(3000), "occupier", None, "port 3000 is in use"),
    (KillFailedError(3000, OCCUPIER, SURVIVED), "result", SURVIVED,
     "port 3000 is still in use by node (PID 99): node (PID 99) did not exit within 0.2 s"),
    (PortAlreadyAllocatedError(3001, ALLOCATION), "allocation", ALLOCATION, "PID 42 on box"),
    (NoFreePortError(PortRange(3000, 3009), allocated=4, busy=6), "busy", 6,
     "no free port in range 3000-3009: 4 allocated in the registry, 6 busy"),
    (RegistryError(Path("/r.json"), "cannot read"), "path", Path("/r.json"), "cannot read"),
    (RegistryCorruptError(Path("/r.json"), "not valid JSON"), "reason", "not valid JSON",
     "aioports repair"),
    (RegistryCorruptError(Path("/r.json"), "schema 9", newer=True), "newer", True,
     "upgrade aioports"),
    (RegistryLockTimeoutError(Path("/r.json"), 2.5), "timeout", 2.5, "2.5 s"),
    (PermissionDeniedError("refused", pid=7), "pid", 7, "refused"),
    (PermissionDeniedError("refused", pid=7), "reason", DenialReason.OS_REFUSED, "refused"),
    (PermissionDeniedError("init", pid=1, reason=DenialReason.PROTECTED_PROCESS), "reason",
     DenialReason.PROTECTED_PROCESS, "init"),
    (ProcessGoneError(1234), "pid", 1234, "1234"),
    (InvalidArgumentError("owner_pid", -1, "owner_pid must be 1 or more, got -1"), "argument",
     "owner_pid", "got -1"),
    (ArgumentTypeError("host", 5, "host must be an IP address, got 5"), "value", 5, "got 5"),
    (ConfigError("$AIOPORTS_RANGE: bad"), "args", ("$AIOPORTS_RANGE: bad",), "AIOPORTS_RANGE"),
    (EnvFileError(Path("/p/.env"), "it is a symbolic link"), "reason", "it is a symbolic link",
     "cannot update /p/.env: it is a symbolic link"),
    (ManifestError(Path("/p/.aioports.toml"), "services.web.env", "not a name"), "key",
     "services.web.env", "/p/.aioports.toml is unusable at services.web.env: not a name"),
    (ManifestError(Path("/p/pyproject.toml"), None, "not TOML"), "path",
     Path("/p/pyproject.toml"), "pyproject.toml is unusable: not TOML"),
    (WaitTimeoutError(8000, "listening", 5.0, pid=42), "pid", 42,
     "port 8000 was not listening by PID 42 or a descendant after 5 s"),
    (WaitTimeoutError(8000, "free", 0.5), "condition", "free",
     "port 8000 was still in use after 0.5 s"),
]  # fmt: skip


@pytest.mark.parametrize(("error", "attribute", "value", "text"), CASES)
def test_message_attribute_and_pickle(
    error: AioportsError, attribute: str, value: object, text: str
) -> None:
    assert text in str(error)
    assert type(error).__name__ in repr(error)
    assert getattr(error, attribute) == value
    clone = pickle.loads(pickle.dumps(error))
    assert type(clone) is type(error)
    assert str(clone) == str(error)
    assert getattr(clone, attribute) == value


@pytest.mark.parametrize(("error", "attribute", "value", "text"), CASES)
def test_context_attributes_are_read_only(
    error: AioportsError, attribute: str, value: object, text: str
) -> None:
    if attribute == "args":
        return
    with pytest.raises(AttributeError, match="read-only"):
        setattr(error, attribute, "changed")
    assert getattr(error, attribute) == value


def test_every_exported_error_has_a_case() -> None:
    exported = {
        obj for name in aioports.__all__
        if isinstance(obj := getattr(aioports, name), type) and issubclass(obj, BaseException)
    }  # fmt: skip
    assert exported == {type(error) for error, *_ in CASES}


@pytest.mark.parametrize(
    ("error_type", "builtin"),
    [
        (InvalidPortError, ValueError),
        (InvalidRangeError, ValueError),
        (InvalidMetadataError, ValueError),
        (ManifestError, ValueError),
        (RegistryLockTimeoutError, TimeoutError),
        (WaitTimeoutError, TimeoutError),
        (PermissionDeniedError, PermissionError),
        (ProcessGoneError, ProcessLookupError),
    ],
)
def test_builtin_bases(error_type: type[AioportsError], builtin: type[Exception]) -> None:
    assert issubclass(error_type, AioportsError)
    assert issubclass(error_type, builtin)


def test_kill_failed_is_a_port_in_use_error_with_its_occupier() -> None:
    error = KillFailedError(3000, OCCUPIER, SURVIVED)
    assert isinstance(error, PortInUseError)
    clone = pickle.loads(pickle.dumps(error))
    assert (clone.port, clone.occupier, clone.result) == (3000, OCCUPIER, SURVIVED)


def test_every_denial_reason_pickles_with_its_error() -> None:
    for reason in DenialReason:
        error = PermissionDeniedError("no", pid=None, reason=reason)
        clone = pickle.loads(pickle.dumps(error))
        assert (clone.reason, clone.pid, str(clone)) == (reason, None, "no")


def test_no_free_port_error_pickles_its_range() -> None:
    error = NoFreePortError(PortRange(10, 20), needed=3, allocated=1, busy=2)
    clone = pickle.loads(pickle.dumps(error))
    assert (clone.range, clone.needed, clone.allocated, clone.busy) == (PortRange(10, 20), 3, 1, 2)
    assert "3 free ports" in str(clone)
