"""A small suite run by pytest inside this test process (pytester's in-process run): pytest
collects and runs it with the aioports plugin for real, without the half second of CPU a new
interpreter spends importing pytest and its plugins. Tests that need processes of their own
(xdist workers, two runs at once) start them instead."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest
from blockbuster import BlockBuster

#: ``-p no:cacheprovider``: nothing written next to the suite; ``-p no:asyncio``: anyio runs
#: async tests and pytest-asyncio (the bench extra's) stays out, as in this suite, where no
#: plugin is autoloaded (pyproject.toml); the inner runs autoload theirs, as a user's would.
ARGS = ("-q", "-p", "no:cacheprovider", "-p", "no:asyncio")


def run_suite(
    pytester: pytest.Pytester,
    buster: BlockBuster,
    files: Mapping[str, str],
    *,
    ini: str = "",
) -> pytest.RunResult:
    """Write ``files`` (name -> code) and ``pytest.ini`` (``[pytest]`` and ``ini``) into
    pytester's folder and run pytest there in this process (the caller sets the variables
    the suite reads, with ``monkeypatch``: pytester restores them with it).

    The suite's own tests may call the sync door on their event loop (the plugin's fixtures
    do, by design): this test's check for blocking calls is switched off first.
    """
    buster.deactivate()
    pytester.makeini(f"[pytest]\n{ini}")
    for name, code in files.items():
        (Path(pytester.path) / name).write_text(code, encoding="utf-8")
    return pytester.runpytest_inprocess(*ARGS)
