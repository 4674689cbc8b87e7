"""The recipes of the README and of docs/, run as they are written.

A recipe is a fenced code block right after a ``<!-- recipe: NAME -->`` line. Each one runs
here as a user would run it (a script in a fresh interpreter, a shell script under bash, a
test file under pytest), against a registry of its own and a range of ports that are free
now, with the installed ``aioports`` first on ``PATH``. ``test_every_recipe_is_run`` fails
when a page gains a recipe that no test here runs.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import anyio
import forked
import pytest
from blockbuster import BlockBuster
from helpers import bindable, free_block
from inner_pytest import run_suite
from processes import listener_process, needs_sigint, reap
from repos import make_repo

from aioports import PortManager

ROOT = Path(__file__).resolve().parent.parent
PAGES = (ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")))
RECIPE = re.compile(
    r"^<!-- recipe: (?P<name>[\w-]+) -->\n```(?P<lang>\w+)\n(?P<code>.*?)^```$",
    re.MULTILINE | re.DOTALL,
)

#: scripts that end by themselves: name -> what their output must match
SCRIPTS = {
    "readme-async": r"serving on \d+",
    "readme-sync": r"allocated \d+\nleased \d+",
    "library-tour": r"3000 is (in use|available)\n(.*\n)*CleanupResult\(released=2\)",
    "lease": r"serving on \d+",
    "handoff-asyncio": r"b'ping\\n'",
    "handoff-anyio": r"b'ping'",
    "scan": r"\d+ free;",
    "validate": r"0 (free|in_use|denied)",
    "agent-session": r"\d+ free\nfree None",
}
#: shell scripts: name -> what their output must match
SHELL = {
    "shell-server": r"serving on http://127\.0\.0\.1:\d+/",
    "shell-group": r"frontend \d+ of group [0-9a-f]+",
    "readme-cli": r'"status": ?"(free|in_use|denied)"',  # compact off a terminal
    "cli-worktree": r"Allocated port group [0-9a-f]+\.",
    "readme-named": r"/web -> [0-9]+ \(worktree ",
}
#: test files, run together under pytest
PYTEST = ("readme-pytest", "pytest-socket", "pytest-factory", "pytest-session")
#: recipes with a test of their own below
OWN_TESTS = ("uvicorn-app", "handoff-uvicorn", "handoff-child", "take-over")


def _recipes() -> dict[str, tuple[str, str]]:
    """Every recipe of the pages: name -> (language, code)."""
    found: dict[str, tuple[str, str]] = {}
    for page in PAGES:
        for match in RECIPE.finditer(page.read_text(encoding="utf-8")):
            assert match["name"] not in found, f"recipe {match['name']!r} appears twice"
            found[match["name"]] = (match["lang"], match["code"])
    return found


RECIPES = _recipes()


def recipe(name: str, lang: str) -> str:
    """The code of one recipe, checked to be in ``lang``."""
    assert name in RECIPES, f"no recipe {name!r} in {[p.name for p in PAGES]}"
    found_lang, code = RECIPES[name]
    assert found_lang == lang, (name, found_lang)
    return code


def _env(registry_path: Path, size: int = 20) -> dict[str, str]:
    start = free_block(size)
    bin_dir = str(Path(sys.executable).parent)
    return {
        **os.environ,
        "AIOPORTS_REGISTRY": str(registry_path),
        "AIOPORTS_RANGE": f"{start}-{start + size - 1}",
        "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
        "NO_COLOR": "1",
    }


def _allocations(registry_path: Path) -> list[int]:
    return [a.port for a in anyio.run(PortManager(registry_path).list_allocations)]


def _run(args: list[str], env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(
        args, capture_output=True, text=True, env=env, cwd=cwd, timeout=60, check=False
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _run_script(name: str, tmp_path: Path, registry_path: Path) -> str:
    """``python NAME.py`` in ``tmp_path``, forked from the zygote (tests/forked.py)."""
    script = tmp_path / f"{name}.py"
    code = recipe(name, "python")
    script.write_text(code, encoding="utf-8")
    child = forked.start(code, script=script, env=_env(registry_path), cwd=tmp_path)
    try:
        out, err = child.communicate(timeout=60)
    finally:
        reap(child)
    assert child.returncode == 0, f"exit {child.returncode}\n{out}\n{err}"
    return out


def _get(url: str, deadline: float) -> bytes:
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                body: bytes = response.read()
                return body
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


# -- scripts that end by themselves ------------------------------------------------------


@pytest.mark.parametrize(("name", "expected"), SCRIPTS.items(), ids=list(SCRIPTS))
def test_script_recipe(name: str, expected: str, tmp_path: Path, registry_path: Path) -> None:
    out = _run_script(name, tmp_path, registry_path)
    assert re.search(expected, out), out
    assert _allocations(registry_path) == []  # each one releases what it took


# -- servers that run until Ctrl-C -------------------------------------------------------


@needs_sigint
def test_uvicorn_serves_on_the_inherited_socket(tmp_path: Path, registry_path: Path) -> None:
    pytest.importorskip("uvicorn")
    (tmp_path / "hello.py").write_text(recipe("uvicorn-app", "python"))
    script = tmp_path / "serve.py"
    script.write_text(recipe("handoff-uvicorn", "python"))
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        text=True,
        env=_env(registry_path),
        cwd=tmp_path,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert url is not None, line
        assert _get(url[0], time.monotonic() + 30) == b"hello"
        proc.send_signal(signal.SIGINT)  # Ctrl-C: the recipe stops its server and releases
        assert proc.wait(timeout=30) == 0
    finally:
        reap(proc)
    assert _allocations(registry_path) == []


@needs_sigint
def test_a_child_binds_the_port_itself(tmp_path: Path, registry_path: Path) -> None:
    script = tmp_path / "child.py"
    script.write_text(recipe("handoff-child", "python"))
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        env=_env(registry_path),
        cwd=tmp_path,
        start_new_session=True,  # Ctrl-C reaches the recipe and its http.server child
    )
    try:
        deadline = time.monotonic() + 30
        while not (ports := _allocations(registry_path)):
            assert time.monotonic() < deadline, "the recipe allocated no port"
            time.sleep(0.05)
        [port] = ports
        _get(f"http://127.0.0.1:{port}/", deadline)  # the child serves on the leased port
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        reap(proc)
    assert _allocations(registry_path) == []


# -- shell -------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "expected"), SHELL.items(), ids=list(SHELL))
def test_shell_recipe(name: str, expected: str, tmp_path: Path, registry_path: Path) -> None:
    code = recipe(name, "bash")
    # In a checkout of its own, as a user's: what a recipe writes (.env) stays in tmp_path.
    checkout = make_repo(tmp_path / "shop", files={"pyproject.toml": '[project]\nname = "shop"\n'})
    out = _run(["bash", "-euo", "pipefail", "-c", code], _env(registry_path), checkout)
    assert re.search(expected, out), out
    if name == "readme-named":
        assert (checkout / ".env").read_text().startswith("# >>> aioports >>>\nPORT=")
    if name == "shell-server":  # owned by the script's shell, which has exited
        assert _allocations(registry_path) == []


# -- pytest ------------------------------------------------------------------------------


def test_pytest_recipes(
    registry_path: Path,
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    no_blocking_calls_on_the_loop: BlockBuster,
) -> None:
    files, tests = {}, 0
    for name in PYTEST:
        code = recipe(name, "python")
        tests += len(re.findall(r"^(?:async )?def test_", code, re.MULTILINE))
        files[f"test_{name.replace('-', '_')}.py"] = code
    for key in ("AIOPORTS_REGISTRY", "AIOPORTS_RANGE", "NO_COLOR"):
        monkeypatch.setenv(key, _env(registry_path)[key])
    done = run_suite(pytester, no_blocking_calls_on_the_loop, files)
    done.assert_outcomes(passed=tests)
    assert _allocations(registry_path) == []


# -- a function, called in-process -------------------------------------------------------


async def test_take_over_a_port(manager: PortManager) -> None:
    namespace: dict[str, Any] = {}
    exec(compile(recipe("take-over", "python"), "take-over", "exec"), namespace)
    take_over: Callable[[PortManager, int], Coroutine[Any, Any, None]] = namespace["take_over"]
    start = free_block(1)
    with listener_process("127.0.0.1", start) as (pid, port):
        await take_over(manager, port)
        [allocation] = await manager.list_allocations()
        assert allocation.port == port
        assert dict(allocation.metadata) == {"service": "ollama"}
        for _ in range(200):  # the listener was killed: its port binds again
            if bindable(port):
                break
            await asyncio.sleep(0.01)
        assert bindable(port), pid


# -- coverage of the pages ---------------------------------------------------------------


def test_every_recipe_is_run() -> None:
    """Every recipe of the pages is run by a test above, and every name above is a recipe."""
    run = [*SCRIPTS, *SHELL, *PYTEST, *OWN_TESTS]
    assert sorted(run) == sorted(RECIPES)
