"""Run the ``aioports`` command line against a private registry, and check its JSON.

:class:`CliRunner` calls ``aioports.cli.main(argv)`` in this process with captured streams,
like click's ``CliRunner``: a few milliseconds a call, for parsing, rendering and errors.
:class:`Executable` starts the installed console script, for what needs a real process
(signals, pipes, closed or full stdout, the interpreter's locale, terminals, concurrency).
Both return a :class:`Result`.
"""

from __future__ import annotations

import functools
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import forked
import jsonschema
import pytest
import referencing
from processes import reap

from aioports.cli import main

# The console script installed next to this interpreter: the one a user runs.
EXECUTABLE = shutil.which("aioports", path=str(Path(sys.executable).parent)) or "aioports"

Stream = Literal["stdin", "stdout", "stderr"]


@dataclass(frozen=True)
class Result:
    """A finished run: exit code, stdout and stderr kept apart, and stdout's raw bytes.

    :ivar exit_code: what ``main()`` returned, or the process's exit status
    :ivar stdout: stdout decoded as UTF-8
    :ivar stderr: stderr decoded as UTF-8
    :ivar stdout_bytes: stdout exactly as written
    """

    exit_code: int
    stdout: str
    stderr: str
    stdout_bytes: bytes

    def json(self) -> Any:
        """stdout as exactly one JSON document (json.loads rejects anything around it)."""
        return json.loads(self.stdout_bytes)


def _environment(registry: Path, range: str | None) -> dict[str, str | None]:
    """What a run sees: the user's environment without aioports' own variables, then the
    private registry and range (``None`` means unset)."""
    env: dict[str, str | None] = {
        key: None
        for key in os.environ
        if key.startswith(("AIOPORTS_", "NO_COLOR")) and key != "AIOPORTS_CONFIG"
    }
    env["AIOPORTS_REGISTRY"] = str(registry)
    env["AIOPORTS_RANGE"] = range
    # The settings file stays the test's private one (conftest.private_settings): a test must
    # never read or write the user's own.
    assert os.environ.get("AIOPORTS_CONFIG"), "conftest.private_settings sets it"
    return env


class _Bytes(io.BytesIO):
    """The bytes under a captured stream, which may claim to be a terminal."""

    def __init__(self, data: bytes = b"", *, terminal: bool = False) -> None:
        super().__init__(data)
        self._terminal = terminal

    def isatty(self) -> bool:
        return self._terminal


def _text(raw: _Bytes, encoding: str) -> io.TextIOWrapper:
    # What the interpreter gives a process: a text layer with a ``.buffer`` (the JSON
    # renderer writes bytes there), strict errors (main() relaxes them itself).
    return io.TextIOWrapper(raw, encoding=encoding, errors="strict", write_through=True)


class CliRunner:
    """``aioports`` in this process, bound to one temporary registry.

    Each call replaces ``sys.stdin``, ``sys.stdout`` and ``sys.stderr`` with captured text
    streams and sets the environment through ``monkeypatch`` for the call only, so several
    runners (and a test's own variables) never leak into one another.
    """

    def __init__(
        self, monkeypatch: pytest.MonkeyPatch, registry: Path, range: str | None = None
    ) -> None:
        self.monkeypatch = monkeypatch
        self.registry = registry
        self.range = range

    def __call__(
        self,
        *args: str,
        env: Mapping[str, str | None] | None = None,
        input: str = "",
        terminal: Collection[Stream] = (),
        encoding: str = "utf-8",
    ) -> Result:
        """Run ``aioports args``.

        :param env: variables to set (``None``: unset) on top of the runner's own
        :param input: what stdin holds
        :param terminal: the streams that say they are a terminal (``isatty()``)
        :param encoding: the encoding of the text streams, as a locale would pick it
        """
        stdin = _Bytes(input.encode(encoding), terminal="stdin" in terminal)
        stdout = _Bytes(terminal="stdout" in terminal)
        stderr = _Bytes(terminal="stderr" in terminal)
        with self.monkeypatch.context() as patch:
            # A terminal's size, for what asks for it (the help is 80 columns whatever it says).
            variables: dict[str, str | None] = {"COLUMNS": "80", "LINES": "24"}
            variables |= _environment(self.registry, self.range) | dict(env or {})
            for key, value in variables.items():
                if value is None:
                    patch.delenv(key, raising=False)
                else:
                    patch.setenv(key, value)
            out, err = _text(stdout, encoding), _text(stderr, encoding)
            patch.setattr(sys, "stdin", _text(stdin, encoding))
            patch.setattr(sys, "stdout", out)
            patch.setattr(sys, "stderr", err)
            code = main(list(args))
            out.flush()
            err.flush()
        result = Result(
            code, stdout.getvalue().decode(), stderr.getvalue().decode(), stdout.getvalue()
        )
        if variables.get("AIOPORTS_DEBUG") != "1":  # which asks for tracebacks
            assert "Traceback" not in result.stderr, result.stderr
        return result

    def use_environment(self) -> None:
        """Set the runner's variables for the rest of the test, for what reads them outside
        a call (an in-process MCP server's tools)."""
        for key, value in _environment(self.registry, self.range).items():
            if value is None:
                self.monkeypatch.delenv(key, raising=False)
            else:
                self.monkeypatch.setenv(key, value)

    def many(
        self, runs: Sequence[Sequence[str]], env: Mapping[str, str | None] | None = None
    ) -> list[Result]:
        """Run each argument list in turn."""
        return [self(*args, env=env) for args in runs]

    def json(
        self, schema: str, *args: str, code: int = 0, env: Mapping[str, str | None] | None = None
    ) -> Any:
        """Run with ``--json``, check the exit code, and validate stdout against ``schema``."""
        return _checked_json(self(*args, "--json", env=env), schema, code)


# What the console script runs, for a forked run (tests/forked.py): main() reads sys.argv.
_CONSOLE_SCRIPT = "import sys\nfrom aioports.cli import main\nsys.exit(main())"


class Executable:
    """The installed ``aioports`` console script, bound to one temporary registry.

    With ``fork``, each run is instead a child forked from the worker's zygote that runs what
    the console script runs (``main()``): a process of its own, with its own signals, streams
    and exit status, without the interpreter's start-up. For the tests of what a command
    does as a process (``run``'s signals and groups), not of the script's start-up.
    """

    def __init__(self, registry: Path, range: str | None = None, *, fork: bool = False) -> None:
        self.registry = registry
        self.range = range
        self.fork = fork

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ)
        for key, value in _environment(self.registry, self.range).items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        env.update(extra or {})
        return env

    def popen(
        self, *args: str, env: Mapping[str, str] | None = None, **kwargs: Any
    ) -> forked.Child:
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.PIPE)
        if self.fork:
            return forked.start(_CONSOLE_SCRIPT, *args, env=self.env(env), **kwargs)
        return subprocess.Popen([EXECUTABLE, *args], env=self.env(env), text=True, **kwargs)

    def __call__(self, *args: str, env: Mapping[str, str] | None = None) -> Result:
        return self.many([args], env=env)[0]

    def many(
        self, runs: Sequence[Sequence[str]], env: Mapping[str, str] | None = None
    ) -> list[Result]:
        """Start every run at once, then collect them: cheap on wall-clock time."""
        procs = [self.popen(*args, env=env) for args in runs]
        done = []
        try:
            for proc in procs:
                out, err = proc.communicate(timeout=60)
                done.append(Result(proc.wait(), out, err, out.encode()))
        finally:
            for proc in procs:
                reap(proc)
        for result in done:
            assert "Traceback" not in result.stderr, result.stderr
        return done

    def json(
        self, schema: str, *args: str, code: int = 0, env: Mapping[str, str] | None = None
    ) -> Any:
        """Run with ``--json``, check the exit code, and validate stdout against ``schema``."""
        return _checked_json(self(*args, "--json", env=env), schema, code)


def _checked_json(done: Result, schema: str, code: int) -> Any:
    assert done.exit_code == code, (done.exit_code, done.stdout, done.stderr)
    document = done.json()
    validate(schema, document)
    return document


@functools.cache
def schemas() -> dict[str, Any]:
    """Every JSON Schema the installed package ships, by file stem."""
    folder = resources.files("aioports.cli").joinpath("schemas")
    found = {}
    for entry in folder.iterdir():
        if entry.name.endswith(".json"):
            found[entry.name[: -len(".json")]] = json.loads(entry.read_text(encoding="utf-8"))
    return found


@functools.cache
def _registry() -> referencing.Registry[Any]:
    resources_ = [
        (schema["$id"], referencing.Resource.from_contents(schema)) for schema in schemas().values()
    ]
    return referencing.Registry().with_resources(resources_).crawl()


def assert_usage_error(args: Sequence[str], done: Result, *, json_mode: bool) -> None:
    """``done`` is bad input refused the one way: exit 2 and one line on stderr, or under
    ``--json`` one error document."""
    assert done.exit_code == 2, (args, done)
    if json_mode:
        validate("error", done.json())
    else:
        assert done.stderr.startswith("aioports: error: "), (args, done.stderr)
        assert done.stderr.count("\n") == 1, (args, done.stderr)


def validate(name: str, document: Any) -> None:
    """Fail unless ``document`` matches the shipped schema ``name``."""
    _validator(name).validate(document)


@functools.cache
def _validator(name: str) -> jsonschema.Draft202012Validator:
    # One per schema: it keeps what it resolved of the references (half the cost of a check).
    return jsonschema.Draft202012Validator(schemas()[name], registry=_registry())


# Imports everything as root (the interpreter's files may be closed to others), then becomes
# nobody and runs the command line: what an unprivileged user sees.
# The CLI imports what a command needs on first use: load every module while still root.
_AS_NOBODY = """
import asyncio, os, sys, importlib, pkgutil, concurrent.futures.thread
import anyio, anyio._backends._asyncio, psutil
import aioports
for module in pkgutil.walk_packages(aioports.__path__, "aioports."):
    if module.name not in ("aioports.__main__", "aioports.pytest_plugin"):
        importlib.import_module(module.name)
from aioports.cli import main
os.setgid(65534)
os.setuid(65534)
sys.exit(main(sys.argv[1:]))
"""


def as_nobody(registry: Path, *args: str, range: str | None = None) -> Result:
    """Run ``aioports args`` as the user nobody (needs root), against ``registry``."""
    # Its own settings: nobody cannot enter the test's private folder, and has no file here.
    env = Executable(registry, range).env({"AIOPORTS_CONFIG": "/nonexistent-aioports/config.toml"})
    child = forked.start(_AS_NOBODY, *args, env=env)
    try:
        out, err = child.communicate(timeout=60)
    finally:
        reap(child)
    assert "Traceback" not in err, err
    return Result(child.wait(), out, err, out.encode())
