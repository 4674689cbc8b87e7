"""Real git repositories for the tests, made in the test's tmp folder."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

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


def make_repo(folder: Path, *, files: dict[str, str] | None = None) -> Path:
    """A git repository at ``folder`` on branch ``main`` with one commit of ``files``."""
    folder.mkdir(parents=True, exist_ok=True)
    git(folder, "init", "-q", "-b", "main")
    for name, text in (files or {"README": "x\n"}).items():
        (folder / name).write_text(text)
    git(folder, "add", "-A")
    git(folder, "commit", "-q", "-m", "start")
    return folder


def add_worktree(repo: Path, folder: Path, branch: str) -> Path:
    """A linked worktree of ``repo`` at ``folder`` on a new ``branch``."""
    git(repo, "worktree", "add", "-q", "-b", branch, str(folder))
    return folder
