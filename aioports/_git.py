"""The git facts a project's defaults need, read from the files git keeps: no git binary.

A checkout's top-level folder holds ``.git``: a folder in the main checkout, a file
``gitdir: <path>`` in a linked worktree (``git worktree add``) or a submodule. The git dir
named there holds ``HEAD`` (``ref: refs/heads/<branch>``, or a commit id when detached) and,
in a linked worktree, ``commondir``: the path of the repository's shared git dir, whose folder
is the main checkout (``<main>/.git``; a bare repository ``shop.git`` is its own).

Odd cases fall back instead of failing: an unreadable or malformed ``.git`` file, a git dir
that was moved or pruned, an unreadable ``HEAD`` give a checkout whose branch is unknown and
whose main checkout is itself. A bare repository has no ``.git`` entry, so it is no checkout.
``$GIT_DIR`` and ``$GIT_WORK_TREE`` are not consulted: they describe one git command's view,
not the folder a server runs in.
"""

from __future__ import annotations

import os
from pathlib import Path

from ._files import read_small_file
from ._records import record

__all__ = ("Checkout", "read_checkout")

# HEAD, .git and commondir are one line; anything longer is not git's.
_MAX_BYTES = 4096
_HEADS = "refs/heads/"


@record
class Checkout:
    """A git checkout (the main one or a linked worktree).

    :ivar top: its top-level folder (the one holding ``.git``)
    :ivar main: the main checkout's folder, the same as ``top`` in the main checkout (for a
        worktree of a bare repository, the bare repository's folder)
    :ivar branch: the checked-out branch, or None (detached HEAD, or unknown)
    :ivar commit: the commit id of a detached HEAD, else None
    :ivar linked: True for a linked worktree (``.git`` is a file naming a worktree git dir)
    """

    top: Path
    main: Path
    branch: str | None
    commit: str | None
    linked: bool


def _line(path: Path) -> str | None:
    """The first line of a small text file, or None when it cannot be read."""
    try:
        data = read_small_file(path, _MAX_BYTES)
    except OSError:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    lines = text.splitlines()
    return lines[0].strip() if lines else ""


def _git_dir(top: Path) -> Path | None:
    """The git dir of the checkout at ``top``: ``.git`` itself, or where its ``gitdir:`` line
    points (relative to ``top`` when relative); None when that is unreadable or malformed."""
    dot_git = top / ".git"
    if dot_git.is_dir():
        return dot_git
    line = _line(dot_git)
    if line is None or not line.startswith("gitdir:"):
        return None
    target = Path(line[len("gitdir:") :].strip())
    if not str(target):
        return None
    return Path(os.path.normpath(top / target))


def _head(git_dir: Path) -> tuple[str | None, str | None]:
    """(branch, detached commit) from ``HEAD``; (None, None) when it cannot be told."""
    line = _line(git_dir / "HEAD")
    if not line:
        return None, None
    if line.startswith("ref:"):
        ref = line[len("ref:") :].strip()
        if not ref:
            return None, None
        return (ref[len(_HEADS) :] if ref.startswith(_HEADS) else ref), None
    if len(line) in (40, 64) and all(c in "0123456789abcdef" for c in line):
        return None, line
    return None, None


def _main(top: Path, git_dir: Path) -> Path:
    """The main checkout's folder, from the shared git dir ``commondir`` names."""
    line = _line(git_dir / "commondir")
    if not line:  # the main checkout, or a submodule: its own main
        return top
    common = Path(os.path.normpath(git_dir / line))
    return common.parent if common.name == ".git" else common


def read_checkout(top: Path) -> Checkout:
    """The checkout whose top-level folder ``top`` holds a ``.git`` entry (see the module
    docstring for the fallbacks)."""
    git_dir = _git_dir(top)
    if git_dir is None:
        return Checkout(top=top, main=top, branch=None, commit=None, linked=False)
    branch, commit = _head(git_dir)
    main = _main(top, git_dir)
    return Checkout(top=top, main=main, branch=branch, commit=commit, linked=main != top)
