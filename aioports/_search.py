"""Finding free ports in a range: the one search that allocation (and scanning) share.

The search binds one port after another from the start of the range. In a crowded range that
would cost a bind per busy port, so after :data:`SNAPSHOT_AFTER` busy probes it reads the
kernel's table of listeners once (see ``_listeners.py``) and skips the ports it lists; every port
it is about to hand out is still bind-checked. The cost then follows the probes the search
really needs, plus one table read.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Container, Iterable

from ._entries import Entries
from ._errors import NoFreePortError
from ._listeners import listening_ports
from ._models import PortRange, PortStatus
from ._probe import BindProber
from ._steps import CHECKPOINT, Blocking, Steps

__all__ = ("Claim", "find_free_ports")

#: takes a port that probes free for real (binds a socket to it, say): a generator of steps
#: returning False when it could not, in which case the search goes on
Claim = Callable[[int], Steps[bool]]

# Probes run inline (on the loop, in the async door); let other tasks run this often.
PROBES_PER_YIELD = 128
# Busy probes after which one snapshot of the listener table is cheaper than binding on.
SNAPSHOT_AFTER = 32


def find_free_ports(
    prober: BindProber,
    span: PortRange,
    count: int,
    entries: Entries,
    *,
    claim: Claim | None = None,
    skip: Container[int] = frozenset(),
    start: int | None = None,
) -> Steps[list[int]]:
    """The first contiguous run of ``count`` free ports of ``span``, else the lowest ``count``
    free ones, skipping every port ``entries`` holds. A generator of steps (``_steps.py``).

    :param claim: for ``count == 1`` only: a :data:`Claim`, run for each port that probes free
    :param skip: ports never to hand out (``_hygiene.excluded_ports()``)
    :param start: begin at this port of ``span`` and wrap around to its start (a named
        port's hashed start); a run never spans the wrap
    :raises NoFreePortError: when the range has fewer than ``count`` free ports.
    """
    if claim is not None and count != 1:
        raise ValueError("claim works for single ports only")
    order: Iterable[int] = span
    if start is not None and start in span:
        order = itertools.chain(range(start, span.end + 1), range(span.start, start))
    run: list[int] = []
    first_free: list[int] = []
    allocated = busy = probes = excluded = 0
    listeners: frozenset[int] | None = None
    for port in order:
        if port == span.start:
            run = []  # wrapped around: the run before is not contiguous with this one
        if port in entries:
            allocated += 1
            run = []
            continue
        if port in skip:
            excluded += 1
            run = []
            continue
        if listeners is None and busy == SNAPSHOT_AFTER:
            listeners = (yield Blocking(listening_ports)) or frozenset()
        if listeners is not None and port in listeners:
            busy += 1
            run = []
            continue
        probes += 1
        if probes % PROBES_PER_YIELD == 0:
            yield CHECKPOINT
        if prober.status(port) is not PortStatus.FREE or (
            claim is not None and not (yield from claim(port))
        ):
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
    raise NoFreePortError(span, needed=count, allocated=allocated, busy=busy, excluded=excluded)
