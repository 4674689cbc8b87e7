"""aioports: hand out, track, probe and free TCP ports on one host, safely across processes.

The names below are imported on first use (PEP 562), so ``import aioports`` and the command
line pay only for what they touch: the CLI's quick commands never load asyncio, anyio,
aiofiles or psutil.
"""

from __future__ import annotations

import importlib

from ._version import __version__ as __version__

# Not typing.TYPE_CHECKING: importing typing (and re with it) is a fifth of `aioports --version`.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ._errors import AioportsError as AioportsError
    from ._errors import ArgumentTypeError as ArgumentTypeError
    from ._errors import ConfigError as ConfigError
    from ._errors import DenialReason as DenialReason
    from ._errors import EnvFileError as EnvFileError
    from ._errors import InvalidArgumentError as InvalidArgumentError
    from ._errors import InvalidMetadataError as InvalidMetadataError
    from ._errors import InvalidPortError as InvalidPortError
    from ._errors import InvalidRangeError as InvalidRangeError
    from ._errors import KillFailedError as KillFailedError
    from ._errors import ManifestError as ManifestError
    from ._errors import NoFreePortError as NoFreePortError
    from ._errors import PermissionDeniedError as PermissionDeniedError
    from ._errors import PortAlreadyAllocatedError as PortAlreadyAllocatedError
    from ._errors import PortInUseError as PortInUseError
    from ._errors import PortUnavailableError as PortUnavailableError
    from ._errors import ProcessGoneError as ProcessGoneError
    from ._errors import RegistryCorruptError as RegistryCorruptError
    from ._errors import RegistryError as RegistryError
    from ._errors import RegistryLockTimeoutError as RegistryLockTimeoutError
    from ._errors import WaitTimeoutError as WaitTimeoutError
    from ._lease import Lease as Lease
    from ._listen_fds import listen_fds as listen_fds
    from ._manager import PortManager as PortManager
    from ._manifest import Manifest as Manifest
    from ._models import Allocation as Allocation
    from ._models import AllocationGroup as AllocationGroup
    from ._models import CleanupResult as CleanupResult
    from ._models import Explanation as Explanation
    from ._models import ExplanationStatus as ExplanationStatus
    from ._models import KillOutcome as KillOutcome
    from ._models import KillResult as KillResult
    from ._models import Occupier as Occupier
    from ._models import PortKey as PortKey
    from ._models import PortRange as PortRange
    from ._models import PortStatus as PortStatus
    from ._models import ProbeResult as ProbeResult
    from ._models import Pruned as Pruned
    from ._models import PruneReason as PruneReason
    from ._models import PruneResult as PruneResult
    from ._models import Reason as Reason
    from ._models import ReasonCode as ReasonCode
    from ._models import RepairResult as RepairResult
    from ._models import Reservation as Reservation
    from ._models import ScanResult as ScanResult
    from ._named import EnsuredPort as EnsuredPort
    from ._project import Project as Project
    from ._project import find_project as find_project
    from ._sync import allocate_sync as allocate_sync
    from ._sync import lease_sync as lease_sync
    from ._sync import release_sync as release_sync
    from ._sync import wait_until_free_sync as wait_until_free_sync
    from ._sync import wait_until_listening_sync as wait_until_listening_sync
    from ._wait import WaitResult as WaitResult

#: public name -> the private module that defines it
_SOURCES: dict[str, str] = {
    "AioportsError": "_errors",
    "Allocation": "_models",
    "AllocationGroup": "_models",
    "ArgumentTypeError": "_errors",
    "CleanupResult": "_models",
    "ConfigError": "_errors",
    "DenialReason": "_errors",
    "EnsuredPort": "_named",
    "EnvFileError": "_errors",
    "Explanation": "_models",
    "ExplanationStatus": "_models",
    "InvalidArgumentError": "_errors",
    "InvalidMetadataError": "_errors",
    "InvalidPortError": "_errors",
    "InvalidRangeError": "_errors",
    "KillFailedError": "_errors",
    "KillOutcome": "_models",
    "KillResult": "_models",
    "Lease": "_lease",
    "Manifest": "_manifest",
    "ManifestError": "_errors",
    "NoFreePortError": "_errors",
    "Occupier": "_models",
    "PermissionDeniedError": "_errors",
    "PortAlreadyAllocatedError": "_errors",
    "PortInUseError": "_errors",
    "PortKey": "_models",
    "PortManager": "_manager",
    "PortRange": "_models",
    "PortStatus": "_models",
    "PortUnavailableError": "_errors",
    "ProbeResult": "_models",
    "ProcessGoneError": "_errors",
    "Project": "_project",
    "PruneReason": "_models",
    "PruneResult": "_models",
    "Pruned": "_models",
    "Reason": "_models",
    "ReasonCode": "_models",
    "RegistryCorruptError": "_errors",
    "RegistryError": "_errors",
    "RegistryLockTimeoutError": "_errors",
    "RepairResult": "_models",
    "Reservation": "_models",
    "ScanResult": "_models",
    "WaitResult": "_wait",
    "WaitTimeoutError": "_errors",
    "allocate_sync": "_sync",
    "find_project": "_project",
    "lease_sync": "_sync",
    "listen_fds": "_listen_fds",
    "release_sync": "_sync",
    "wait_until_free_sync": "_sync",
    "wait_until_listening_sync": "_sync",
}

__all__ = (
    "AioportsError",
    "Allocation",
    "AllocationGroup",
    "ArgumentTypeError",
    "CleanupResult",
    "ConfigError",
    "DenialReason",
    "EnsuredPort",
    "EnvFileError",
    "Explanation",
    "ExplanationStatus",
    "InvalidArgumentError",
    "InvalidMetadataError",
    "InvalidPortError",
    "InvalidRangeError",
    "KillFailedError",
    "KillOutcome",
    "KillResult",
    "Lease",
    "Manifest",
    "ManifestError",
    "NoFreePortError",
    "Occupier",
    "PermissionDeniedError",
    "PortAlreadyAllocatedError",
    "PortInUseError",
    "PortKey",
    "PortManager",
    "PortRange",
    "PortStatus",
    "PortUnavailableError",
    "ProbeResult",
    "ProcessGoneError",
    "Project",
    "PruneReason",
    "PruneResult",
    "Pruned",
    "Reason",
    "ReasonCode",
    "RegistryCorruptError",
    "RegistryError",
    "RegistryLockTimeoutError",
    "RepairResult",
    "Reservation",
    "ScanResult",
    "WaitResult",
    "WaitTimeoutError",
    "__version__",
    "allocate_sync",
    "find_project",
    "lease_sync",
    "listen_fds",
    "release_sync",
    "wait_until_free_sync",
    "wait_until_listening_sync",
)


def __getattr__(name: str) -> Any:
    module = _SOURCES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    # Show public objects as aioports.Name, not aioports._module.Name.
    if not isinstance(value, str) and hasattr(value, "__module__"):
        value.__module__ = __name__
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*__all__, "__doc__", "__file__", "__name__", "__path__"})
