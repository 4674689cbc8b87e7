"""The MCP server's tools, generated from the command table (``_table.py``), and one tool
call turned into the command line the CLI would run.

A tool is a command: its positional arguments and options become the properties of its
JSON input schema (a ``PORT`` an integer, a ``PID`` an integer, seconds a number, a switch a
boolean, anything else a string), and a call becomes the argv that ``aioports COMMAND
--json`` would be given. The CLI's own parser and handler then run it, so a tool returns the
very document ``--json`` prints, errors included: one source for both doors.

``kill_port`` is the one tool whose arguments differ: it has no ``dry_run`` but a
``confirm``, and signals nobody unless ``confirm`` is ``true``.

This module needs no MCP SDK: the server (``_mcp.py``) lists :data:`TOOLS` and hands each
call to :func:`run_tool`.
"""

from __future__ import annotations

import io

from ._errors import UsageError
from ._table import OPTIONS, Arg, Command, Option, by_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    from ._results import Result

__all__ = ("TOOLS", "Param", "Tool", "argv_for", "run_tool")

_PORT_NUMBER = {"type": "integer", "minimum": 1, "maximum": 65535}


class Param:
    """One property of a tool's input schema, and how it goes onto the command line.

    :ivar name: the property (the table's name: ``port``, ``owner_pid``, ``confirm``)
    :ivar kind: its JSON type: ``integer``, ``number``, ``string`` or ``boolean``
    :ivar flag: the option it becomes (``--app``), or None for a positional argument
    :ivar many: it takes one value or an array of them (``release 3000 3001``)
    :ivar required: the call must give it
    :ivar description: what the schema says about it
    :ivar port: its integers are port numbers (1-65535)
    :ivar unless_true: the flag is given unless the value is ``true`` (``confirm`` leaves
        out ``--dry-run``)
    """

    __slots__ = (
        "description", "flag", "kind", "many", "name", "port", "required", "unless_true",
    )  # fmt: skip

    def __init__(
        self,
        name: str,
        kind: str,
        description: str,
        *,
        flag: str | None = None,
        many: bool = False,
        required: bool = False,
        port: bool = False,
        unless_true: bool = False,
    ) -> None:
        self.name, self.kind, self.description, self.flag = name, kind, description, flag
        self.many, self.required, self.port, self.unless_true = many, required, port, unless_true

    def schema(self) -> dict[str, Any]:
        """The property's JSON Schema."""
        one: dict[str, Any] = dict(_PORT_NUMBER) if self.port else {"type": self.kind}
        if not self.many:
            return one | {"description": self.description}
        several = {"type": "array", "items": one, "minItems": 1}
        return {"anyOf": [one, several], "description": self.description}

    def texts(self, value: object) -> list[str]:
        """``value`` as command-line words, one per value.

        :raises UsageError: for a value of the wrong JSON type (a bool is no number), or an
            empty array.
        """
        values = value if self.many and isinstance(value, list) else [value]
        if not values:
            raise UsageError(f"{self.name} needs at least one value, got an empty array")
        return [self._text(one) for one in values]

    def _fits(self, value: object) -> bool:
        """``value`` is of the parameter's JSON type (a bool is no number, 3.5 no integer)."""
        if self.kind == "boolean":
            return isinstance(value, bool)
        if self.kind == "string":
            return isinstance(value, str)
        if isinstance(value, bool):
            return False
        return isinstance(value, int) or (self.kind == "number" and isinstance(value, float))

    def _text(self, value: object) -> str:
        if self._fits(value):
            return ("true" if value else "false") if isinstance(value, bool) else str(value)
        import json

        shape = {"boolean": "true or false", "integer": "a whole number"}.get(
            self.kind, f"a {self.kind}"
        )
        which = f"{shape} or an array of them" if self.many else shape
        raise UsageError(f"{self.name} must be {which}, got {json.dumps(value)}")


class Tool:
    """One MCP tool: a command of the table and its parameters.

    :ivar name: the tool's name (``kill_port``)
    :ivar command: the command it runs
    :ivar description: what the tool's listing says
    :ivar params: its parameters by name, in schema order
    :ivar read_only: it changes nothing (the annotation clients show)
    :ivar destructive: it may end processes or drop allocations
    """

    __slots__ = ("command", "description", "destructive", "name", "params", "read_only")

    def __init__(
        self,
        command: Command,
        description: str,
        params: Sequence[Param],
        *,
        read_only: bool,
        destructive: bool = False,
    ) -> None:
        self.name, self.command = command.name.replace("-", "_"), command
        self.description, self.params = description, {p.name: p for p in params}
        self.read_only, self.destructive = read_only, destructive

    def input_schema(self) -> dict[str, Any]:
        """The JSON Schema of the tool's arguments: an object of its parameters, no others."""
        return {
            "type": "object",
            "properties": {name: param.schema() for name, param in self.params.items()},
            "required": [name for name, param in self.params.items() if param.required],
            "additionalProperties": False,
        }


def _kind(metavar: str | None, *, seconds: bool = False) -> str:
    if metavar is None:
        return "boolean"
    if seconds:
        return "number"
    return "integer" if metavar in ("PORT", "PID") else "string"


def _from_arg(arg: Arg, description: str, name: str | None) -> Param:
    return Param(
        name or arg.name,
        _kind(arg.metavar),
        description,
        many=arg.many,
        required=not arg.optional,
        port=arg.metavar == "PORT",
    )


def _from_option(option: Option, description: str | None) -> Param:
    return Param(
        option.name,
        _kind(option.metavar, seconds=option.seconds),
        description or option.help,
        flag=option.flag,
        port=option.metavar == "PORT",
    )


def _tool(
    name: str,
    description: str,
    *,
    read_only: bool,
    destructive: bool = False,
    args: Mapping[str, str] | None = None,
    names: Mapping[str, str] | None = None,
    said: Mapping[str, str] | None = None,
    leave_out: tuple[str, ...] = (),
    extra: tuple[Param, ...] = (),
) -> Tool:
    """The tool of command ``name``: ``args`` describes its positional arguments, ``said``
    renames some (``wait``'s target is a ``port`` here), ``said`` rewords options whose help
    speaks of other commands, ``leave_out`` drops options."""
    command = by_name(name)
    args, names, said = args or {}, names or {}, said or {}
    params = [_from_arg(arg, args[arg.name], names.get(arg.name)) for arg in command.args]
    params += [
        _from_option(OPTIONS[option], said.get(option))
        for option in command.options
        if option not in leave_out
    ]
    return Tool(
        command, description, [*params, *extra], read_only=read_only, destructive=destructive
    )


_PORTS = "a port (1-65535), or an array of ports: each is acted on and reported"
_PICKED = "the allocations it picks by their app, worktree and service"
TOOLS: dict[str, Tool] = {
    tool.name: tool
    for tool in (
        _tool(
            "ensure",
            "The stable port of each service of this project and worktree, allocated on the "
            "first call and the same on every later one (idempotent). Without services: the "
            "project manifest's. The project is the server's working directory unless "
            "worktree names a folder of another checkout.",
            read_only=False,
            args={"services": "a service name, or an array of them"},
            said={"worktree": "a folder of the checkout (default: the server's working "
                  "directory), or the worktree's name"},
        ),
        _tool(
            "allocate",
            "Allocate the lowest free port of the range, recorded with its app, worktree and "
            "service. Each call hands out a new port: keep the number, or use ensure.",
            read_only=False,
            said={"owner_pid": "release the port once this process exits (not the PID of "
                  "a shell that exits at once)"},
        ),
        _tool(
            "release",
            f"Free allocated ports, or {_PICKED}. A port that is not allocated is reported "
            "as not_allocated, not as an error.",
            read_only=False,
            args={"port": _PORTS},
            said={"app": "release the allocations of this app",
                  "worktree": "release the allocations of this worktree",
                  "service": "release the allocations of this service"},
        ),
        _tool(
            "list",
            f"Every allocation of the registry, or {_PICKED}.",
            read_only=True,
            said={"app": "only this app's allocations",
                  "worktree": "only this worktree's allocations",
                  "service": "only this service's allocations"},
        ),
        _tool(
            "probe",
            "Could a server start on the port now? status free, in_use or denied, and the "
            "port's allocation if it has one.",
            read_only=True,
            args={"port": _PORTS},
        ),
        _tool(
            "why",
            "Everything that stands between a server and the port, each a reason with its "
            "facts (allocation, holders, TIME_WAIT, privileged, reserved ...), and a verdict.",
            read_only=True,
            args={"port": _PORTS},
        ),
        _tool(
            "detect",
            "Which processes hold the port: every holder, a pre-fork server's workers too.",
            read_only=True,
            args={"port": _PORTS},
        ),
        _tool(
            "kill-port",
            "End the processes that hold the port. A dry run unless confirm is true: it "
            "reports who would be signalled and signals nobody.",
            read_only=False,
            destructive=True,
            args={"port": _PORTS},
            said={"timeout": "send SIGTERM, wait up to this many seconds for the port to be "
                  "free, then SIGKILL", "force": "SIGKILL at once, not SIGTERM",
                  "allow_other_users": "as root, also end another user's process"},
            leave_out=("dry_run",),
            extra=(
                Param("confirm", "boolean",
                      "true: really signal them; otherwise only report who would be "
                      "signalled", flag="--dry-run", unless_true=True),
            ),
        ),
        _tool(
            "wait",
            "Wait until a server listens on the port (free: until one could start there).",
            read_only=True,
            args={"target": "the port to watch"},
            names={"target": "port"},
            said={"timeout": "give up after this many seconds (default 60): a "
                  "WaitTimeoutError", "interval": "look every this many seconds "
                  "(default 0.1)", "free": "wait until a server could start on the port",
                  "pid": "the listener must be this process or a descendant"},
        ),
        _tool(
            "scan",
            "The ports of a range that are in use, and by whom.",
            read_only=True,
            args={"range": "the range, START-END (such as 3000-3999)"},
        ),
    )
}  # fmt: skip


def argv_for(tool: Tool, arguments: Mapping[str, object], common: Sequence[str] = ()) -> list[str]:
    """The command line that runs ``tool`` with ``arguments``, ``common`` (the server's own
    ``--registry=PATH``) included.

    Options are written ``--app=VALUE`` and arguments follow ``--``, so no value is ever
    read as an option (``app: "--force"`` stays an app name).

    :raises UsageError: for an unknown argument, a missing one or a value of the wrong type.
    """
    unknown = [name for name in arguments if name not in tool.params]
    if unknown:
        takes = ", ".join(tool.params) or "no arguments"
        raise UsageError(
            f"{tool.name} has no argument {', '.join(map(repr, unknown))}; it takes: {takes}"
        )
    missing = [name for name, param in tool.params.items() if param.required]
    missing = [name for name in missing if name not in arguments]
    if missing:
        raise UsageError(f"{tool.name} needs {', '.join(missing)}")
    options: list[str] = []
    positional: list[str] = []
    for name, param in tool.params.items():
        given = name in arguments
        texts = param.texts(arguments[name]) if given else []
        if param.unless_true:
            if texts != ["true"]:
                options.append(str(param.flag))
        elif param.flag is None:
            positional += texts
        elif param.kind == "boolean":
            if texts == ["true"]:
                options.append(param.flag)
        elif given:
            options.append(f"{param.flag}={texts[0]}")
    return [tool.command.name, *options, *common, "--", *positional]


def run_tool(name: str, arguments: Mapping[str, object], common: Sequence[str] = ()) -> Result:
    """Run tool ``name`` as the CLI would run its command under ``--json``: the command's
    result, or a :class:`~aioports.cli._failure.Failure` carrying the error (a bad call's
    too: an unknown tool or argument is a :class:`UsageError`). Blocking: call it in a
    worker thread."""
    from ._failure import Failure

    tool = TOOLS.get(name)
    if tool is None:
        names = ", ".join(TOOLS)
        return Failure(UsageError(f"no tool named {name!r}; the tools are: {names}"))
    try:
        argv = argv_for(tool, arguments, common)
    except UsageError as exc:
        return Failure(exc)
    from ._main import _result

    # The streams take what a handler might write besides its result (help never: a
    # command is always given); ``--json`` runs keep nothing there.
    result = _result(argv, io.StringIO(), io.StringIO())
    assert result is not None, "a command was given, so no help was shown"
    return result
