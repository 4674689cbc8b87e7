"""``aioports mcp`` for real: the MCP SDK's own client starts the installed console script
in a subprocess and talks to it over stdio. Every tool's result is checked against the
shipped schema of its command, and where the answer cannot change between two runs, against
what ``aioports COMMAND --json`` prints for the same arguments.

Skipped without the ``mcp`` package (``pip install 'aioports[mcp]'``; the dev extra has it),
except the tests of what happens without it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema
import pytest
from cli_helpers import EXECUTABLE, CliRunner, Executable, validate
from helpers import free_block, free_port
from processes import POLITE, alive, spawn

from aioports.cli._mcp_tools import TOOLS

if TYPE_CHECKING:
    from mcp import ClientSession

needs_sdk = pytest.mark.skipif(find_spec("mcp") is None, reason="needs 'aioports[mcp]'")

NAMES = {
    "ensure", "allocate", "release", "list", "probe", "why", "detect", "kill_port", "wait",
    "scan",
}  # fmt: skip


@pytest.fixture
def span() -> str:
    start = free_block(20)
    return f"{start}-{start + 19}"


@pytest.fixture
def exe(registry_path: Path, span: str) -> Executable:
    return Executable(registry_path, span)


@contextlib.asynccontextmanager
async def server(
    exe: Executable,
    *args: str,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    command: Sequence[str] = (EXECUTABLE, "mcp"),
) -> AsyncIterator[ClientSession]:
    """An initialized client session with ``aioports mcp ARGS`` (or ``command``) in a
    subprocess, on the test's registry and range (the SDK starts it with only a few of our
    variables: pass them)."""
    from mcp import ClientSession, StdioServerParameters, stdio_client

    variables = {k: v for k, v in exe.env(env).items() if k.startswith("AIOPORTS_")}
    params = StdioServerParameters(
        command=command[0], args=[*command[1:], *args], env=variables, cwd=cwd
    )
    with open(os.devnull, "w") as errlog:  # the server's "stopped" line
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session


async def call(
    session: ClientSession, tool: str, arguments: dict[str, Any], *, error: bool = False
) -> Any:
    """Call ``tool``; check it failed or not as expected, that the text and the structured
    content are one document, and that the document matches its schema."""
    from mcp.types import CallToolResult, TextContent

    result = await session.call_tool(tool, arguments)
    assert isinstance(result, CallToolResult)
    assert len(result.content) == 1
    assert isinstance(result.content[0], TextContent)
    document = json.loads(result.content[0].text)
    assert result.is_error is error, document
    if isinstance(document, dict):
        assert result.structured_content == document
    else:
        assert result.structured_content is None  # a bare array is no structured content
    schema = "error" if error else TOOLS[tool].command.schema
    validate(schema, document)
    return document


def cli(exe: Executable, *args: str, code: int = 0) -> Any:
    done = exe(*args, "--json")
    assert done.exit_code == code, done
    return done.json()


# -- without the SDK ----------------------------------------------------------------------

_NO_SDK = """
import sys
sys.modules["mcp"] = None  # what an install without the extra has: import mcp fails
from aioports.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_without_the_sdk_one_line_names_the_extra(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _NO_SDK, "mcp"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == (
        "aioports: error: aioports mcp needs the MCP SDK: pip install 'aioports[mcp]'\n"
    )


def test_mcp_refuses_json_and_arguments(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    runner = CliRunner(monkeypatch, tmp_path / "registry.json")
    document = runner.json("error", "mcp", code=2)
    assert document["error"]["type"] == "UsageError"
    assert "leave out --json" in document["error"]["message"]
    done = runner("mcp", "3000")
    assert (done.exit_code, done.stdout) == (2, "")
    assert "unrecognized arguments: 3000" in done.stderr


def test_other_commands_never_import_the_sdk() -> None:
    script = (
        "import sys\nfrom aioports.cli import main\n"
        "main(['probe', '1', '--json']); main(['--help'])\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('mcp', 'mcp_types', "
        "'pydantic', 'starlette')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.splitlines()[-1] == "[]"


def test_tool_arguments_become_the_cli_command_line() -> None:
    from aioports.cli._mcp_tools import argv_for

    kill = TOOLS["kill_port"]
    several = argv_for(kill, {"port": [3000, 3001]})
    assert several == ["kill-port", "--dry-run", "--", "3000", "3001"]
    assert argv_for(kill, {"port": 3000, "confirm": True, "timeout": 0.5}) == [
        "kill-port", "--timeout=0.5", "--", "3000"
    ]  # fmt: skip
    # A value that looks like an option stays a value.
    assert argv_for(TOOLS["allocate"], {"app": "--force"}, ["--registry=r"]) == [
        "allocate", "--app=--force", "--registry=r", "--"
    ]  # fmt: skip


# -- through the SDK's client -------------------------------------------------------------


@needs_sdk
async def test_lists_every_tool_with_its_input_schema(exe: Executable) -> None:
    async with server(exe) as session:
        listed = (await session.list_tools()).tools
    assert {tool.name for tool in listed} == NAMES
    for tool in listed:
        jsonschema.Draft202012Validator.check_schema(tool.input_schema)
        assert tool.input_schema["additionalProperties"] is False
        assert tool.description
        assert tool.annotations is not None
    by_name = {tool.name: tool for tool in listed}
    kill = by_name["kill_port"]
    assert kill.input_schema["properties"]["confirm"]["type"] == "boolean"
    assert "dry_run" not in kill.input_schema["properties"]
    assert kill.input_schema["required"] == ["port"]
    assert kill.annotations is not None
    assert kill.annotations.destructive_hint is True
    probe = by_name["probe"]
    assert probe.annotations is not None
    assert probe.annotations.read_only_hint is True


DOCS = Path(__file__).resolve().parent.parent / "docs" / "guides" / "agents.md"


@needs_sdk
async def test_the_documented_configuration_starts_the_server(exe: Executable) -> None:
    page = DOCS.read_text(encoding="utf-8")
    found = re.search(r"<!-- mcp-config -->\n```json\n(.*?)^```$", page, re.DOTALL | re.MULTILINE)
    assert found is not None
    entry = json.loads(found[1])["mcpServers"]["aioports"]
    assert entry["command"] == "aioports"
    # The installed console script, as a client finds "aioports" on its PATH.
    command = (EXECUTABLE, *entry["args"])
    async with server(exe, command=command) as session:
        listed = await session.list_tools()
        probed = await call(session, "probe", {"port": free_port()})
    assert {tool.name for tool in listed.tools} == NAMES
    assert probed["status"] == "free"


@needs_sdk
async def test_each_tool_returns_the_cli_document(
    exe: Executable, registry_path: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "not-this-one.json"
    port = free_port()
    # ``--registry`` given to the server goes with every call: $AIOPORTS_REGISTRY is not used.
    async with server(
        exe, "--registry", str(registry_path), env={"AIOPORTS_REGISTRY": str(elsewhere)}
    ) as session:
        allocated = await call(session, "allocate", {"app": "shop", "service": "api"})
        assert allocated["status"] == "allocated"
        ours = allocated["port"]
        listed = await call(session, "list", {"app": "shop"})
        probed = await call(session, "probe", {"port": port})
        detected = await call(session, "detect", {"port": port})
        scanned = await call(session, "scan", {"range": f"{port}-{port}"})
        why = await call(session, "why", {"port": ours})
        assert (why["status"], why["reasons"][0]["code"]) == ("allocated", "allocated")
        waited = await call(session, "wait", {"port": port, "free": True, "timeout": 5})
        assert waited["status"] == "free"
        dry = await call(session, "kill_port", {"port": port})
        assert dry["status"] == "free"
        several = await call(session, "probe", {"port": [port, ours]})
        assert [r["port"] for r in several["results"]] == [port, ours]
        released = await call(session, "release", {"port": ours})
        assert released["status"] == "released"
    assert not elsewhere.exists()
    # The same documents as the command line's.
    assert [entry["port"] for entry in listed] == [ours]
    assert probed == cli(exe, "probe", str(port))
    assert detected == cli(exe, "detect", str(port))
    assert scanned == cli(exe, "scan", f"{port}-{port}")
    assert cli(exe, "list") == []


@needs_sdk
async def test_ensure_works_in_the_servers_folder_unless_told_another(
    exe: Executable, tmp_path: Path
) -> None:
    here, there = tmp_path / "shop", tmp_path / "admin"
    here.mkdir()
    there.mkdir()
    async with server(exe, cwd=here) as session:
        first = await call(session, "ensure", {"services": "web"})
        again = await call(session, "ensure", {"services": ["web"]})
        other = await call(session, "ensure", {"services": "web", "worktree": str(there)})
    assert (first["status"], first["app"]) == ("ensured", "shop")
    assert again["services"]["web"]["port"] == first["services"]["web"]["port"]
    assert again["services"]["web"]["created"] is False
    assert other["app"] == "admin"
    assert other["services"]["web"]["port"] != first["services"]["web"]["port"]
    # The command line, run in that folder, finds the same port.
    done = subprocess.run(
        [EXECUTABLE, "ensure", "web", "--json"],
        cwd=here, env=exe.env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert json.loads(done.stdout)["services"]["web"]["port"] == first["services"]["web"]["port"]


@needs_sdk
async def test_kill_port_is_a_dry_run_unless_confirmed(exe: Executable) -> None:
    async with server(exe) as session:
        with spawn(POLITE) as child:
            dry = await call(session, "kill_port", {"port": child.port})
            assert dry["dry_run"] is True
            assert child.pid in [p["pid"] for p in dry["processes"]]
            assert alive(child.pid)
            refused = await call(
                session, "kill_port", {"port": child.port, "confirm": "yes"}, error=True
            )
            assert refused["error"]["type"] == "UsageError"
            assert "confirm must be true or false" in refused["error"]["message"]
            assert alive(child.pid)
            killed = await call(session, "kill_port", {"port": child.port, "confirm": True})
            assert killed["status"] == "killed"
            deadline = time.monotonic() + 10
            while alive(child.pid) and time.monotonic() < deadline:
                time.sleep(0.02)
            assert not alive(child.pid)


BAD_CALLS: list[tuple[str, dict[str, Any], str]] = [
    ("nope", {}, "no tool named 'nope'"),
    ("allocate", {"app": "shop", "colour": "red"}, "allocate has no argument 'colour'"),
    ("allocate", {"app": 7}, "app must be a string, got 7"),
    ("allocate", {"range": "9-1"}, "invalid port range"),
    ("probe", {}, "probe needs port"),
    ("probe", {"port": "3000"}, "port must be a whole number or an array of them"),
    ("probe", {"port": True}, "port must be a whole number"),
    ("probe", {"port": []}, "port needs at least one value"),
    ("probe", {"port": [1, "2"]}, "port must be a whole number"),
    ("probe", {"port": 3000.5}, "port must be a whole number"),
    ("wait", {"port": 1, "timeout": -1}, "--timeout must be a finite number of seconds"),
    ("release", {}, "release needs"),
    ("kill_port", {"port": 1, "confirm": 1}, "confirm must be true or false, got 1"),
    ("kill_port", {"port": 1, "dry_run": False}, "kill_port has no argument 'dry_run'"),
]


@needs_sdk
async def test_bad_calls_are_tool_errors_and_change_nothing(
    exe: Executable, registry_path: Path
) -> None:
    async with server(exe) as session:
        for tool, arguments, expected in BAD_CALLS:
            document = await call(session, tool, arguments, error=True)
            assert expected in document["error"]["message"], (tool, arguments, document)
    assert not registry_path.exists()


@needs_sdk
async def test_an_error_is_the_clis_error_document(exe: Executable) -> None:
    async with server(exe) as session:
        why = await call(session, "why", {"port": 70000}, error=True)
        unknown = await call(session, "release", {"port": 70000}, error=True)
    assert why == cli(exe, "why", "70000", code=2)
    assert unknown == cli(exe, "release", "70000", code=2)
    assert why["error"]["type"] == "InvalidPortError"
