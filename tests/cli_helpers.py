"""Run the real ``aioports`` executable against a private registry, and check its JSON."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import referencing

# The console script installed next to this interpreter: the one a user runs.
EXECUTABLE = shutil.which("aioports", path=str(Path(sys.executable).parent)) or "aioports"


@dataclass(frozen=True)
class Done:
    """A finished run: exit code, stdout and stderr kept apart."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        """stdout as exactly one JSON document (json.loads rejects anything around it)."""
        return json.loads(self.out)


class Cli:
    """The ``aioports`` command bound to one temporary registry."""

    def __init__(self, registry: Path, range: str | None = None) -> None:
        self.registry = registry
        self.range = range

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIOPORTS_", "NO_COLOR"))}
        env["AIOPORTS_REGISTRY"] = str(self.registry)
        if self.range is not None:
            env["AIOPORTS_RANGE"] = self.range
        env.update(extra or {})
        return env

    def popen(
        self, *args: str, env: Mapping[str, str] | None = None, **kwargs: Any
    ) -> subprocess.Popen[str]:
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.PIPE)
        return subprocess.Popen([EXECUTABLE, *args], env=self.env(env), text=True, **kwargs)

    def __call__(self, *args: str, env: Mapping[str, str] | None = None) -> Done:
        return self.many([args], env=env)[0]

    def many(
        self, runs: Sequence[Sequence[str]], env: Mapping[str, str] | None = None
    ) -> list[Done]:
        """Start every run at once, then collect them: cheap on wall-clock time."""
        procs = [self.popen(*args, env=env) for args in runs]
        done = []
        for proc in procs:
            out, err = proc.communicate(timeout=60)
            done.append(Done(proc.returncode, out, err))
        for result in done:
            assert "Traceback" not in result.err, result.err
        return done

    def json(
        self, schema: str, *args: str, code: int = 0, env: Mapping[str, str] | None = None
    ) -> Any:
        """Run with ``--json``, check the exit code, and validate stdout against ``schema``."""
        done = self(*args, "--json", env=env)
        assert done.code == code, (done.code, done.out, done.err)
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
    return referencing.Registry().with_resources(resources_)


def validate(name: str, document: Any) -> None:
    """Fail unless ``document`` matches the shipped schema ``name``."""
    validator = jsonschema.Draft202012Validator(schemas()[name], registry=_registry())
    validator.validate(document)


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


def as_nobody(cli: Cli, *args: str) -> Done:
    """Run ``aioports args`` as the user nobody (needs root), against ``cli``'s registry."""
    done = subprocess.run(
        [sys.executable, "-c", _AS_NOBODY, *args],
        capture_output=True, text=True, env=cli.env(), timeout=60, check=False,
    )  # fmt: skip
    assert "Traceback" not in done.stderr, done.stderr
    return Done(done.returncode, done.stdout, done.stderr)
