"""Taking a port over: kill whoever holds it, then (for ``reserve``) record it in the registry.

Async orchestration of the sync pieces in ``_occupier.py`` and ``_identity.py``, each run in
a worker thread. The :class:`KillOutcome` of a kill is set where its branch is taken.
Waiting is polling with a short, growing pause, never a fixed sleep: a polite process frees its
port a few milliseconds after SIGTERM, and the call returns then. The pause doubles from 0.5 ms
to 20 ms, then grows to at most a tenth of the time waited so far: a holder that takes seconds
to stop is seen at most 10% late, and waiting out a 3 s grace costs 40 looks, not 150 (each
look at a process is a worker-thread round trip).
The port itself is probed inline (a non-blocking bind costs microseconds).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import anyio
import anyio.to_thread

from . import _checks, _log
from ._allocation import owner_fields
from ._errors import (
    DenialReason,
    KillFailedError,
    PermissionDeniedError,
    PortAlreadyAllocatedError,
    PortInUseError,
)
from ._identity import is_gone, send_signal, signal_name
from ._models import (
    Allocation,
    KillOutcome,
    KillResult,
    Occupier,
    PortStatus,
    ProcessIdentity,
    Reservation,
)
from ._occupier import holders_of, identity_of, occupiers_by_port, signal_targets
from ._probe import BindProber
from ._records import replace
from ._registry import Registry

__all__ = (
    "FIRST_PAUSE",
    "detect",
    "detect_many",
    "kill_port",
    "next_pause",
    "reserve_port",
    "validate_timeout",
)

#: the first pause of a wait
FIRST_PAUSE = 0.0005
_SHORT_PAUSE = 0.02  # the longest pause while the time waited is under 0.2 s
_LATE_FRACTION = 0.1  # then the longest pause, as a fraction of the time waited


def validate_timeout(timeout: object) -> float:
    """``timeout`` as seconds, if it is a finite, non-negative number.

    :raises InvalidArgumentError: otherwise (``ArgumentTypeError`` for a wrong type).
    """
    return _checks.seconds("timeout", timeout)


async def detect(port: int) -> list[Occupier]:
    """Every occupier of one (validated) port, looked up in a worker thread."""
    return (await detect_many((port,)))[port]


async def detect_many(ports: Sequence[int]) -> dict[int, list[Occupier]]:
    """Every occupier of each (validated) port, from one snapshot taken in a worker thread."""
    return await anyio.to_thread.run_sync(occupiers_by_port, tuple(ports))


_holders = holders_of


async def kill_port(
    prober: BindProber,
    port: int,
    *,
    force: bool,
    grace: float,
    escalate: bool,
    allow_other_users: bool,
) -> KillResult:
    """Signal every process holding ``port`` and wait until they have exited and the port
    is bindable, or ``grace`` seconds have passed. See ``PortManager.kill_occupier``."""

    # One thread hop: the refusal walks this process's ancestry, a blocking read too.
    occupiers, _ = await anyio.to_thread.run_sync(
        lambda: signal_targets(port, allow_other_users=allow_other_users)
    )
    holders = _holders(occupiers)
    result = KillResult(
        killed=False, port=port, occupiers=tuple(occupiers), outcome=KillOutcome.NO_HOLDER
    )
    if not holders:
        what = f"a {occupiers[0].status} socket no process owns" if occupiers else "nothing"
        return _finish(prober, result, f"port {port} is held by {what}: nothing to kill")
    first = holders[0]
    result = _with(result, pid=first.pid, process_name=first.process_name)
    signalled = await _signal_all(holders, force=force)
    if not signalled:
        result = _with(result, outcome=KillOutcome.EXITED_FIRST)
        return _finish(
            prober, result, f"{_names(holders)} exited before it was signalled: nothing to kill"
        )
    sent = signal_name(force=force)
    result = _with(result, pids=tuple(o.pid for o in signalled if o.pid is not None), signal=sent)
    _log.debug("sent %s to %s holding port %d", sent, _names(signalled), port)
    alive = await _wait(prober, port, signalled, grace)
    if alive and escalate and not force:
        signalled = await _signal_all(alive, force=True)
        _log.debug("escalated to SIGKILL for %s on port %d", _names(signalled), port)
        result = _with(result, signal=signal_name(force=True), escalated=True)
        alive = await _wait(prober, port, alive, grace)
    if alive:
        hint = "" if force or escalate else "; pass force=True or escalate=True to SIGKILL it"
        message = f"{_names(alive)} did not exit within {grace:g} s of {result.signal}{hint}"
        return _finish(prober, _with(result, outcome=KillOutcome.SURVIVED), message)
    result = _with(result, killed=True, outcome=KillOutcome.KILLED)
    return _finish(prober, result, f"{_names(signalled)} exited after {result.signal}")


async def _signal_all(targets: Sequence[Occupier], *, force: bool) -> list[Occupier]:
    def run() -> list[Occupier]:
        return [o for o in targets if send_signal(identity_of(o), force=force)]

    return await anyio.to_thread.run_sync(run)


async def _wait(
    prober: BindProber, port: int, targets: Sequence[Occupier], grace: float
) -> list[Occupier]:
    """Poll until every target is gone and the port is bindable; returns those still alive
    when ``grace`` ran out (empty if all exited, even if the port stayed busy)."""

    def still_alive() -> list[Occupier]:
        return [o for o in targets if not is_gone(identity_of(o))]

    started = anyio.current_time()
    deadline = started + grace
    pause = FIRST_PAUSE
    pending = list(targets)
    while True:
        free = prober.status(port) is PortStatus.FREE
        if pending and (free or pause >= _SHORT_PAUSE or anyio.current_time() >= deadline):
            pending = await anyio.to_thread.run_sync(still_alive)
        remaining = deadline - anyio.current_time()
        if (not pending and free) or remaining <= 0:
            return pending
        await anyio.sleep(min(pause, remaining))
        pause = next_pause(pause, anyio.current_time() - started)


def next_pause(pause: float, waited: float) -> float:
    """The pause after ``pause``, ``waited`` seconds into a wait (see the module's docstring)."""
    return min(pause * 2, max(_SHORT_PAUSE, waited * _LATE_FRACTION))


def _finish(prober: BindProber, result: KillResult, message: str) -> KillResult:
    free = prober.status(result.port) is PortStatus.FREE
    return _with(result, port_free=free, message=message)


def _with(result: KillResult, **changes: Any) -> KillResult:
    return replace(result, **changes)


def _names(occupiers: Sequence[Occupier]) -> str:
    return ", ".join(f"{o.process_name or 'process'} (PID {o.pid})" for o in occupiers)


async def reserve_port(
    registry: Registry,
    prober: BindProber,
    port: int,
    *,
    metadata: dict[str, Any],
    kill_if_occupied: bool,
    force: bool,
    grace: float,
    escalate: bool,
    allow_other_users: bool,
    owner: tuple[ProcessIdentity, str | None] | None = None,
) -> Reservation:
    """Record ``port`` in the registry, after killing its holders if asked. See
    ``PortManager.reserve``.

    A port already recorded with the same ``(app, worktree, service)`` as ``metadata``
    names is a success: asking twice for the same thing is not an error.

    The registry lock is not held while a process is being killed (that can take seconds and
    would stall every other aioports user); the registry is checked before and again when
    recording.
    """
    status = prober.status(port)
    if status is PortStatus.DENIED:
        # Recording it would promise a port this user can never serve on.
        raise PermissionDeniedError(
            f"port {port} is privileged: this user may not bind it, so it was not reserved",
            reason=DenialReason.OS_REFUSED,
        )
    async with registry.transaction() as leases:
        existing = leases.get(port)
    if existing is not None:
        return _recorded_already(port, existing, metadata)
    occupier = None
    killed = False
    # Only a port a server could not start on has a holder worth finding: a free one needs
    # no socket-table lookup (which macOS refuses to non-root users).
    if status is PortStatus.IN_USE:
        holders = _holders(await detect(port))
        if not holders:
            raise PortInUseError(port, None)  # bound by a socket the socket table does not show
        occupier = holders[0]
        if not kill_if_occupied:
            raise PortInUseError(port, occupier)
        result = await kill_port(
            prober,
            port,
            force=force,
            grace=grace,
            escalate=escalate,
            allow_other_users=allow_other_users,
        )
        if not result.port_free:
            raise KillFailedError(port, occupier, result)
        killed = result.killed
    async with registry.transaction() as leases:
        existing = leases.get(port)
        if existing is not None:
            return _recorded_already(port, existing, metadata)
        allocation = Allocation(
            port=port,
            allocated_at=datetime.now(UTC),
            metadata=metadata,
            pid=os.getpid(),
            hostname=registry.hostname,
            **owner_fields(*(owner or (None, None))),
        )
        leases.add(allocation)
    return Reservation(
        port=port,
        was_occupied=occupier is not None,
        killed=killed,
        occupier=occupier,
        allocation=allocation,
    )


def _recorded_already(port: int, existing: Allocation, metadata: dict[str, Any]) -> Reservation:
    """The reservation of a port recorded before, when ``metadata`` names the same
    ``(app, worktree, service)`` as its entry.

    :raises PortAlreadyAllocatedError: when it is another's.
    """
    asked = (metadata.get("app"), metadata.get("worktree"), metadata.get("service"))
    if asked == (None, None, None) or existing.parts != asked:
        raise PortAlreadyAllocatedError(port, existing)
    return Reservation(
        port=port, was_occupied=False, killed=False, occupier=None, allocation=existing
    )
