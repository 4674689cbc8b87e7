"""``aioports mcp``: a Model Context Protocol server over stdio, with the official ``mcp``
SDK (the optional extra ``aioports[mcp]``).

Each tool (``_mcp_tools.py``) runs its command through the CLI's own parser and handler in
a worker thread, so its result is the document ``aioports COMMAND --json`` prints: the text
content holds it as compact JSON, the structured content holds it too where it is an object
(every document but ``list``'s array). A failed command, an unknown tool or argument, a
value of the wrong type are tool errors (``isError``) carrying the CLI's error document;
nothing is done for them.

The SDK is imported only here, inside the functions, so no other command pays for it; and
without it ``aioports mcp`` says which extra to install (exit 1), never a traceback.
"""

from __future__ import annotations

import functools

from ._errors import CliError, UsageError
from ._results import Result

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from mcp.server.lowlevel import Server
    from mcp.types import CallToolResult, ListToolsResult, Tool

    from ._context import Context
    from ._mcp_tools import Tool as Spec

__all__ = ("MissingExtraError", "Stopped", "common_arguments", "serve", "server", "tool_result")

INSTRUCTIONS = (
    "aioports hands out, tracks, probes and frees TCP ports on this host. Every tool returns "
    "the JSON document of 'aioports COMMAND --json': branch on its status; a failure is a "
    "tool error whose document has error.type, error.message and, where one exists, "
    "error.hint (a CLI command that fixes it). Use ensure for a service's stable port, "
    "probe or why before starting a server, kill_port without confirm first (a dry run)."
)


class MissingExtraError(CliError):
    """Raised by ``aioports mcp`` when the MCP SDK is not installed (exit code 1)."""

    def __init__(self, extra: str) -> None:
        super().__init__(f"aioports mcp needs the MCP SDK: pip install 'aioports[{extra}]'")
        self.extra = extra

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.extra,)


class Stopped(Result):
    """The server's end: its client closed stdin. People see one line on stderr; stdout
    was the protocol's."""

    __slots__ = ()

    status = "stopped"
    to_stderr = True

    @property
    def message(self) -> str:
        return "The MCP server stopped: its client closed the connection."


def serve(ctx: Context) -> Result:
    """Serve the tools over stdin and stdout until the client closes stdin.

    :raises UsageError: with ``--json``: stdout carries the protocol's JSON-RPC already.
    :raises MissingExtraError: when the ``mcp`` package cannot be imported.
    """
    if ctx.parsed.json:
        raise UsageError("mcp speaks JSON-RPC on stdout already: leave out --json")
    try:
        import mcp.server.lowlevel  # noqa: F401 - only to know the SDK is there
    except ImportError as exc:
        raise MissingExtraError("mcp") from exc
    import anyio

    anyio.run(_serve_stdio, common_arguments(ctx))
    return Stopped()


def common_arguments(ctx: Context) -> list[str]:
    """The options of ``aioports mcp`` that go with every tool call: ``aioports mcp
    --registry PATH`` has every tool use that registry (and ``--lock-timeout``)."""
    from ._table import OPTIONS

    return [
        f"{OPTIONS[name].flag}={value}"
        for name, value in ctx.parsed.options.items()
        if OPTIONS[name].everywhere and isinstance(value, str)
    ]


def server(common: Sequence[str]) -> Server[Any]:
    """The MCP server of the tools, for any transport: stdio here, memory streams in the
    tests. ``common``: arguments added to every tool's command line."""
    import anyio.to_thread
    from mcp import types
    from mcp.server.lowlevel import Server

    from .._version import __version__
    from ._mcp_tools import run_tool

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        # In a worker thread: the first listing reads the schema files.
        return await anyio.to_thread.run_sync(_listing)

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> CallToolResult:
        arguments = params.arguments or {}
        result = await anyio.to_thread.run_sync(run_tool, params.name, arguments, common)
        return tool_result(result)

    return Server(
        "aioports",
        version=__version__,
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


async def _serve_stdio(common: Sequence[str]) -> None:
    from mcp.server.stdio import stdio_server

    tools = server(common)
    async with stdio_server() as (read, write):
        await tools.run(read, write, tools.create_initialization_options())


@functools.cache
def _listing() -> ListToolsResult:
    """``tools/list``'s answer, built once."""
    from mcp import types

    from ._mcp_tools import TOOLS

    return types.ListToolsResult(tools=[_listed(tool) for tool in TOOLS.values()])


def _listed(tool: Spec) -> Tool:
    """A tool as ``tools/list`` shows it: name, description, input schema, hints."""
    from mcp import types

    annotations = types.ToolAnnotations(
        read_only_hint=tool.read_only,
        destructive_hint=tool.destructive,
        idempotent_hint=tool.name not in ("allocate", "kill_port"),
        open_world_hint=False,
    )
    return types.Tool(
        name=tool.name,
        description=tool.description,
        input_schema=tool.input_schema(),
        output_schema=output_schema(tool),
        annotations=annotations,
    )


def output_schema(tool: Spec) -> dict[str, Any] | None:
    """What the tool's structured content matches when it succeeds: its command's schema,
    bundled into one document; None for a command whose document is no object (``list``'s
    array is text only). A failure's content is the error document (``isError``)."""
    from ._schema import bundled

    schema = bundled(tool.command.schema)
    if schema.get("type", "object") != "object":
        return None
    # Every alternative of a oneOf is an object already; MCP wants the root to say so.
    return {"type": "object", **schema}


def tool_result(result: Result) -> CallToolResult:
    """``result`` as a ``CallToolResult``: its ``--json`` document as text (and as
    structured content where it is an object); a failure is a tool error."""
    from mcp import types

    from ._failure import Failure

    document = result.document()
    return types.CallToolResult(
        content=[types.TextContent(text=_compact(document))],
        structured_content=document if isinstance(document, dict) else None,
        is_error=isinstance(result, Failure),
    )


def _compact(document: object) -> str:
    """One line of JSON, as ``--json`` writes to a pipe."""
    import orjson

    try:
        return orjson.dumps(document).decode()
    except orjson.JSONEncodeError:  # a lone surrogate: the stdlib escapes it
        import json

        return json.dumps(document, separators=(",", ":"))
