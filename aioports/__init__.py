"""aioports: hand out, track, probe and free TCP ports on one host, safely across processes."""

from __future__ import annotations

from ._errors import AioportsError as AioportsError
from ._errors import DenialReason as DenialReason
from ._errors import InvalidMetadataError as InvalidMetadataError
from ._errors import InvalidPortError as InvalidPortError
from ._errors import InvalidRangeError as InvalidRangeError
from ._errors import KillFailedError as KillFailedError
from ._errors import NoFreePortError as NoFreePortError
from ._errors import PermissionDeniedError as PermissionDeniedError
from ._errors import PortAlreadyAllocatedError as PortAlreadyAllocatedError
from ._errors import PortInUseError as PortInUseError
from ._errors import PortUnavailableError as PortUnavailableError
from ._errors import ProcessGoneError as ProcessGoneError
from ._errors import RegistryCorruptError as RegistryCorruptError
from ._errors import RegistryError as RegistryError
from ._errors import RegistryLockTimeoutError as RegistryLockTimeoutError
from ._lease import Lease as Lease
from ._manager import PortManager as PortManager
from ._models import Allocation as Allocation
from ._models import AllocationGroup as AllocationGroup
from ._models import CleanupResult as CleanupResult
from ._models import KillOutcome as KillOutcome
from ._models import KillResult as KillResult
from ._models import Occupier as Occupier
from ._models import PortRange as PortRange
from ._models import PortStatus as PortStatus
from ._models import ProbeResult as ProbeResult
from ._models import RepairResult as RepairResult
from ._models import Reservation as Reservation
from ._models import ScanResult as ScanResult
from ._sync import allocate_sync as allocate_sync
from ._sync import lease_sync as lease_sync
from ._sync import release_sync as release_sync
from ._version import __version__ as __version__

__all__ = (
    "AioportsError",
    "Allocation",
    "AllocationGroup",
    "CleanupResult",
    "DenialReason",
    "InvalidMetadataError",
    "InvalidPortError",
    "InvalidRangeError",
    "KillFailedError",
    "KillOutcome",
    "KillResult",
    "Lease",
    "NoFreePortError",
    "Occupier",
    "PermissionDeniedError",
    "PortAlreadyAllocatedError",
    "PortInUseError",
    "PortManager",
    "PortRange",
    "PortStatus",
    "PortUnavailableError",
    "ProbeResult",
    "ProcessGoneError",
    "RegistryCorruptError",
    "RegistryError",
    "RegistryLockTimeoutError",
    "RepairResult",
    "Reservation",
    "ScanResult",
    "__version__",
    "allocate_sync",
    "lease_sync",
    "release_sync",
)

# Show public objects as aioports.Name, not aioports._module.Name.
for _name in __all__:
    _obj = globals()[_name]
    if hasattr(_obj, "__module__") and not isinstance(_obj, str):
        _obj.__module__ = __name__
del _name, _obj
