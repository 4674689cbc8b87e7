from __future__ import annotations

import gc
import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import repos
from blockbuster import BlockBuster, blockbuster_ctx

import aioports
from aioports import PortManager

# pytester: the plugin's own tests run small suites under pytest (tests/inner_pytest.py).
pytest_plugins = ("pytester",)


def pytest_report_header() -> str:
    # The tests import the installed package, never the checkout: say which one.
    return f"aioports {aioports.__version__} from {Path(aioports.__file__).parent}"


def pytest_collection_finish(session: pytest.Session) -> None:
    # The collected tests, the modules and the plugins live until the end: out of the cyclic
    # collector's way, its full collections no longer walk them (about 1 s of CPU in all).
    gc.freeze()


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: two workers per CPU. Many tests mostly wait (for a child to start, a
    grace period, a timeout), and one worker per CPU left CPUs idle through those waits:
    on 2 CPUs the suite took 41 s with 2 workers and 33 s with 4. ``--maxprocesses`` caps
    it (each worker has its own share of test ports, tests/helpers.py)."""
    usable = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    return 2 * (len(usable) if usable is not None else os.cpu_count() or 1)


#: test files whose tests all run on one xdist worker: each imports something costly once
#: per worker (the MCP SDK: about 1.3 s of CPU).
ONE_WORKER = ("tests/test_mcp.py",)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist load`` (the default), except that the tests of :data:`ONE_WORKER` files go
    to one worker together. (xdist's own ``loadgroup`` does this with a mark, but pytest 9
    ignores the node ids it rewrites.)"""
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]

    class Scheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.partition("::")[0]
            return path if path in ONE_WORKER else nodeid

    return Scheduling(config, log)


@pytest.fixture(scope="session", autouse=True)
def _repository_templates(tmp_path_factory: pytest.TempPathFactory) -> None:
    repos.Templates.root = tmp_path_factory.mktemp("repos")


@pytest.fixture
def anyio_backend() -> str:
    # aiofiles ties the registry to asyncio, the user's target.
    return "asyncio"


@pytest.fixture(scope="session")
def _blockbuster() -> Iterator[BlockBuster]:
    # Built and switched on once per process: building one costs about 1 ms, per test.
    with blockbuster_ctx(["aioports"]) as buster:
        yield buster


@pytest.fixture(autouse=True)
def no_blocking_calls_on_the_loop(_blockbuster: BlockBuster) -> Iterator[BlockBuster]:
    """Fail any test in which aioports makes a blocking call on the event loop (a test of a
    sync door called from a coroutine, which blocks by design, deactivates it: it is on
    again for the next test)."""
    yield _blockbuster
    _blockbuster.activate()


@pytest.fixture(scope="session")
def _settings_folders(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("settings")
    return (root / str(n) for n in itertools.count())


@pytest.fixture(autouse=True)
def private_settings(_settings_folders: Iterator[Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test (and every process it starts) reads and writes its own settings file, never
    the user's ``~/.config/aioports/config.toml``. Its folder does not exist until aioports
    writes the file (so a test that never saves a setting costs no ``tmp_path``)."""
    path = next(_settings_folders) / "config.toml"
    monkeypatch.setenv("AIOPORTS_CONFIG", str(path))
    return path


@pytest.fixture
def registry_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "registry.json"


@pytest.fixture
def manager(registry_path: Path) -> PortManager:
    return PortManager(registry_path)
