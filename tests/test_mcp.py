"""``aioports mcp`` for real: the MCP SDK's own client talks to the server, which runs every
tool through the CLI's parser and handler. Every tool's result is checked against the shipped
schema of its command, and where the answer cannot change between two runs, against what
``aioports COMMAND --json`` prints for the same arguments.

Most tests run the server in this process, on the SDK's memory streams (the same server, the
same JSON-RPC session, the handshake included): a call costs milliseconds. What needs the
real process, the installed console script started as a client's configuration says and
spoken to over stdio, has its own test.

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

import anyio
import anyio.to_thread
import jsonschema
import pytest
from cli_helpers import EXECUTABLE, CliRunner, Executable, validate
from helpers import free_block, free_port
from processes import POLITE, alive, spawn

from aioports._sync import SyncPortManager
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
def runner(monkeypatch: pytest.MonkeyPatch, registry_path: Path, span: str) -> CliRunner:
    """The command line in this process, on the test's registry and range; its variables
    stay set for the whole test, as an in-process server's tools read them."""
    runner = CliRunner(monkeypatch, registry_path, span)
    runner.use_environment()
    return runner


@contextlib.asynccontextmanager
async def server(*args: str) -> AsyncIterator[ClientSession]:
    """An initialized client session with ``aioports mcp ARGS`` in this process: the CLI's
    parser reads ARGS, the SDK's client and server talk JSON-RPC over memory streams."""
    from mcp import Client

    from aioports.cli._context import Context
    from aioports.cli._mcp import common_arguments
    from aioports.cli._mcp import server as tools
    from aioports.cli._parse import parse

    parsed = parse(["mcp", *args])
    assert parsed is not None
    async with Client(tools(common_arguments(Context(parsed))), mode="legacy") as client:
        yield client.session


@contextlib.asynccontextmanager
async def process(
    exe: Executable, command: Sequence[str], *, env: Mapping[str, str] | None = None
) -> AsyncIterator[ClientSession]:
    """An initialized client session with ``command`` in a subprocess over stdio, on the
    test's registry and range (the SDK starts it with only a few of our variables: pass
    them)."""
    from mcp import ClientSession, StdioServerParameters, stdio_client

    variables = {k: v for k, v in exe.env(env).items() if k.startswith("AIOPORTS_")}
    params = StdioServerParameters(command=command[0], args=[*command[1:]], env=variables)
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
    if not error:  # the SDK's client checked the output schema too, where there is one
        await _check_output(tool, document)
    return document


async def _check_output(tool: str, document: Any) -> None:
    """The document matches the tool's listed output schema on its own, with no other schema
    to resolve its ``$ref``s from; a tool without one returns no object."""
    from aioports.cli._mcp import output_schema

    schema = await anyio.to_thread.run_sync(output_schema, TOOLS[tool])  # reads files
    if schema is None:
        assert not isinstance(document, dict)
        return
    jsonschema.Draft202012Validator(schema).validate(document)


async def cli(runner: CliRunner, *args: str, code: int = 0) -> Any:
    """What ``aioports ARGS --json`` prints (run in this process, off the event loop: the
    command line blocks, as it may)."""
    done = await anyio.to_thread.run_sync(lambda: runner(*args, "--json"))
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
async def test_lists_every_tool_with_its_input_schema(runner: CliRunner) -> None:
    async with server() as session:
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
    # Output schemas: every tool whose document is an object, bundled into one document.
    assert by_name["list"].output_schema is None  # a bare array: text content only
    for tool in listed:
        if tool.name != "list":
            assert tool.output_schema is not None, tool.name
            assert tool.output_schema["type"] == "object"
            jsonschema.Draft202012Validator.check_schema(tool.output_schema)
            assert "urn:aioports:schema:process" not in str(tool.output_schema) or (
                "aioports-process" in tool.output_schema["$defs"]
            )


DOCS = Path(__file__).resolve().parent.parent / "docs" / "guides" / "agents.md"


@needs_sdk
async def test_the_documented_configuration_starts_the_server(
    registry_path: Path, span: str, tmp_path: Path
) -> None:
    """The console script a client finds on its PATH, with the guide's arguments, over
    stdio; ``--registry`` added there goes with every call ($AIOPORTS_REGISTRY is not used)."""
    page = DOCS.read_text(encoding="utf-8")
    found = re.search(r"<!-- mcp-config -->\n```json\n(.*?)^```$", page, re.DOTALL | re.MULTILINE)
    assert found is not None
    entry = json.loads(found[1])["mcpServers"]["aioports"]
    assert entry["command"] == "aioports"
    exe = Executable(tmp_path / "not-this-one.json", span)
    command = (EXECUTABLE, *entry["args"], "--registry", str(registry_path))
    async with process(exe, command) as session:
        listed = await session.list_tools()
        probed = await call(session, "probe", {"port": free_port()})
        allocated = await call(session, "allocate", {"app": "shop"})
        assert allocated["port"] in [entry["port"] for entry in await call(session, "list", {})]
    assert {tool.name for tool in listed.tools} == NAMES
    assert probed["status"] == "free"
    assert not await anyio.Path(exe.registry).exists()
    recorded = await anyio.to_thread.run_sync(SyncPortManager(registry_path).list_allocations)
    assert [allocation.port for allocation in recorded] == [allocated["port"]]


@needs_sdk
async def test_each_tool_returns_the_cli_document(
    runner: CliRunner, registry_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    # ``--registry`` given to the server goes with every call: $AIOPORTS_REGISTRY is not used.
    elsewhere = tmp_path / "not-this-one.json"
    monkeypatch.setenv("AIOPORTS_REGISTRY", str(elsewhere))
    async with server("--registry", str(registry_path)) as session:
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
    # The same documents as the command line's (the runner sets its own registry again).
    assert [entry["port"] for entry in listed] == [ours]
    assert probed == await cli(runner, "probe", str(port))
    assert detected == await cli(runner, "detect", str(port))
    assert scanned == await cli(runner, "scan", f"{port}-{port}")
    assert await cli(runner, "list") == []


@needs_sdk
async def test_ensure_works_in_the_servers_folder_unless_told_another(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here, there = tmp_path / "shop", tmp_path / "admin"
    here.mkdir()
    there.mkdir()
    monkeypatch.chdir(here)
    async with server() as session:
        first = await call(session, "ensure", {"services": "web"})
        again = await call(session, "ensure", {"services": ["web"]})
        other = await call(session, "ensure", {"services": "web", "worktree": str(there)})
    assert (first["status"], first["app"]) == ("ensured", "shop")
    assert again["services"]["web"]["port"] == first["services"]["web"]["port"]
    assert again["services"]["web"]["created"] is False
    assert other["app"] == "admin"
    assert other["services"]["web"]["port"] != first["services"]["web"]["port"]
    # The command line, run in that folder, finds the same port.
    ensured = await cli(runner, "ensure", "web")
    assert ensured["services"]["web"]["port"] == first["services"]["web"]["port"]


@needs_sdk
async def test_kill_port_is_a_dry_run_unless_confirmed(runner: CliRunner) -> None:
    async with server() as session:
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
    runner: CliRunner, registry_path: Path
) -> None:
    async with server() as session:
        for tool, arguments, expected in BAD_CALLS:
            document = await call(session, tool, arguments, error=True)
            assert expected in document["error"]["message"], (tool, arguments, document)
    assert not registry_path.exists()


@needs_sdk
async def test_an_error_is_the_clis_error_document(runner: CliRunner) -> None:
    async with server() as session:
        why = await call(session, "why", {"port": 70000}, error=True)
        unknown = await call(session, "release", {"port": 70000}, error=True)
    assert why == await cli(runner, "why", "70000", code=2)
    assert unknown == await cli(runner, "release", "70000", code=2)
    assert why["error"]["type"] == "InvalidPortError"
