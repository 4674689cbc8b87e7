"""Facts the library is about to state itself (branch ``facts``), derived here meanwhile.

Each adapter is ONE function; when ``facts`` lands on main, its body becomes the one line in
its docstring and nothing else in the CLI changes:

- :func:`kill_outcome`: ``KillResult.outcome`` (``aioports.KillOutcome``)
- :func:`denied_other_user`: ``PermissionDeniedError.reason is DenialReason.OTHER_USER``
- :func:`kill_failed`: ``isinstance(exc, KillFailedError)``, raised by ``reserve(...,
  kill_if_occupied=True)`` when the kill did not free the port
"""

from __future__ import annotations

import enum

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .. import KillResult, PermissionDeniedError, PortInUseError

__all__ = ("KillOutcome", "denied_other_user", "kill_failed", "kill_outcome")


class KillOutcome(enum.Enum):
    """What ``kill_occupier`` did (the library's ``aioports.KillOutcome``, by name):
    ``NO_HOLDER`` (nothing, or only a socket no process owns, held the port),
    ``EXITED_FIRST`` (the holder exited before it could be signalled), ``KILLED`` (every
    holder was signalled and has exited) or ``SURVIVED`` (a holder is still there)."""

    NO_HOLDER = "no_holder"
    EXITED_FIRST = "exited_first"
    KILLED = "killed"
    SURVIVED = "survived"


def kill_outcome(result: KillResult) -> KillOutcome:
    """ADAPTER (facts): ``return result.outcome``."""
    if result.killed:
        return KillOutcome.KILLED
    if result.pid is None:
        return KillOutcome.NO_HOLDER
    if result.signal is None:
        return KillOutcome.EXITED_FIRST
    return KillOutcome.SURVIVED


def denied_other_user(exc: PermissionDeniedError) -> bool:
    """ADAPTER (facts): ``return exc.reason is DenialReason.OTHER_USER``.

    True when the refusal is only that the holder belongs to another user and
    ``allow_other_users`` was not given (root could then pass ``--allow-other-users``).
    """
    return "allow_other_users=True" in str(exc)


def kill_failed(exc: PortInUseError, *, kill_asked: bool) -> bool:
    """ADAPTER (facts): ``return isinstance(exc, KillFailedError)``.

    ``reserve(kill_if_occupied=True)`` raises ``PortInUseError`` with the holder it found
    only after killing it did not free the port; before any kill it raises one without a
    holder (the socket table does not show one).
    """
    return kill_asked and exc.occupier is not None
