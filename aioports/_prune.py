"""Finding the registry's provably stale entries, without I/O of its own (a generator of
steps, ``_steps.py``, run inside a transaction by either door).

Stale means provably so, never a guess: an owner-bound entry whose owner has exited (the
transaction has already dropped those: ``Entries.reclaimed``), or a named port whose worktree
folder is gone *and* whose port nothing holds. A named port of a worktree that still exists
is never stale, however old: keeping it the same is its whole point.
"""

from __future__ import annotations

from pathlib import Path

from ._entries import Entries
from ._models import Allocation, PortStatus, Pruned, PruneReason
from ._probe import BindProber
from ._steps import Blocking, Steps

__all__ = ("stale_entries",)


def _missing(folders: list[str]) -> set[str]:
    return {folder for folder in folders if not Path(folder).is_dir()}


def stale_entries(entries: Entries, prober: BindProber) -> Steps[list[Pruned]]:
    """The stale entries, by port, each removed from ``entries``."""
    pruned = [Pruned(a, PruneReason.OWNER_GONE) for a in entries.reclaimed]
    named: list[Allocation] = [a for a in entries.allocations() if a.key is not None]
    if named:
        folders = sorted({a.worktree for a in named if a.worktree is not None})
        missing = yield Blocking(_missing, (folders,))
        for allocation in named:
            if allocation.worktree in missing and prober.status(allocation.port) is PortStatus.FREE:
                entries.pop(allocation.port)
                pruned.append(Pruned(allocation, PruneReason.WORKTREE_GONE))
    return sorted(pruned, key=lambda p: p.allocation.port)
