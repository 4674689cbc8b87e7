"""Finding free ports in a range: the one search that allocation (and scanning) share."""

from __future__ import annotations

from collections.abc import Callable

import anyio.lowlevel

from ._errors import NoFreePortError
from ._models import PortRange, PortStatus
from ._probe import BindProber
from ._registry import Leases

__all__ = ("find_free_ports",)

# Probes run inline on the loop; hand control back this often so other tasks keep running.
PROBES_PER_YIELD = 128


async def find_free_ports(
    prober: BindProber,
    span: PortRange,
    count: int,
    leases: Leases,
    *,
    claim: Callable[[int], bool] | None = None,
) -> list[int]:
    """The first contiguous run of ``count`` free ports of ``span``, else the lowest ``count``
    free ones, skipping every port ``leases`` holds.

    :param claim: for ``count == 1`` only: called with each port that probes free, it takes
        the port for real (binds the caller's socket, say) and returns False if it could not,
        in which case the search goes on
    :raises NoFreePortError: when the range has fewer than ``count`` free ports.
    """
    if claim is not None and count != 1:
        raise ValueError("claim works for single ports only")
    run: list[int] = []
    first_free: list[int] = []
    allocated = busy = probes = 0
    for port in span:
        if port in leases:
            allocated += 1
            run = []
            continue
        probes += 1
        if probes % PROBES_PER_YIELD == 0:
            await anyio.lowlevel.checkpoint()
        if prober.status(port) is not PortStatus.FREE or (claim is not None and not claim(port)):
            busy += 1
            run = []
            continue
        run.append(port)
        if len(run) == count:
            return run
        if len(first_free) < count:
            first_free.append(port)
    if len(first_free) == count:
        return first_free
    raise NoFreePortError(span, needed=count, allocated=allocated, busy=busy)
