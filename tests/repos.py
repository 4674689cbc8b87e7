"""Real git repositories for the tests, made in the test's tmp folder."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import ClassVar

import pytest

GIT = shutil.which("git")
needs_git = pytest.mark.skipif(GIT is None, reason="git is not installed")


def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd`` with no user or system configuration; returns its stdout."""
    assert GIT is not None
    env = {
        **os.environ,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }
    done = subprocess.run(
        [GIT, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


class Templates:
    """The repositories :func:`make_repo` copies, one per set of files, each made by git the
    first time this process asks for it (three git runs, about 25 ms of CPU; a copy costs
    about 7 ms). A copy of a repository is that repository: its commit, its branch, its
    index (git refreshes the index's file times on its next look)."""

    #: where they are made: a folder of this process's pytest temp folder (tests/conftest.py)
    root: ClassVar[Path | None] = None
    _made: ClassVar[dict[tuple[tuple[str, str], ...], Path]] = {}

    @classmethod
    def get(cls, files: dict[str, str]) -> Path:
        key = tuple(sorted(files.items()))
        template = cls._made.get(key)
        if template is None:
            assert cls.root is not None, "tests/conftest.py sets Templates.root"
            template = cls.root / str(len(cls._made))
            template.mkdir()
            # No template: a repository without git's sample hooks has half the files to copy.
            git(template, "init", "-q", "-b", "main", "--template=")
            for name, text in files.items():
                (template / name).write_text(text)
            git(template, "add", "-A")
            git(template, "commit", "-q", "-m", "start")
            cls._made[key] = template
        return template


def make_repo(folder: Path, *, files: dict[str, str] | None = None) -> Path:
    """A git repository at ``folder`` on branch ``main`` with one commit of ``files``."""
    template = Templates.get(files or {"README": "x\n"})
    folder.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(template, folder, symlinks=True, dirs_exist_ok=True)
    return folder


def add_worktree(repo: Path, folder: Path, branch: str) -> Path:
    """A linked worktree of ``repo`` at ``folder`` on a new ``branch``."""
    git(repo, "worktree", "add", "-q", "-b", branch, str(folder))
    return folder
