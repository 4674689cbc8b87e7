"""The command table: one spec per command generates the parser (``_parse.py``), the seed's
flag forms, the option scoping, the help text and its examples.

Shape of an entry::

    Command(
        name="allocate-group",          # the word: ``aioports allocate-group 3``
        flag="--allocate-group",        # the seed's flag form (``aioports --allocate-group 3``),
                                        # or None for a command the seed does not have
        args=(Arg("count", "N"),),      # positional arguments in order; the flag form takes
                                        # the first one as the flag's value; the last may be
                                        # ``many`` (``release 3000 3001``, ``--release 1
                                        # --release 2``): the handler acts on every value
        options=("roles", "range", "app", "worktree", "owner_pid"),
                                        # names in OPTIONS: the only options it accepts
        needs=(("force", "kill"),),     # (option, option it needs), as ``--force`` needs ``--kill``
        handler=commands.allocate_group,   # Context -> a result from ``_results*.py``; the
                                        # result says how it looks (``status``, ``message``,
                                        # ``to_dict()``, ``human()``) in both outputs
        schema="group_allocated",       # the file in ``schemas/`` its ``--json`` document matches
        quiet=True,                     # ``-q`` prints only its value (``Result.quiet()``)
        example="--allocate-group 3 --roles frontend,backend,test --app demo",
        help="allocate N ports in one step, one per role",
    )

    Option(name="app", flag="--app", metavar="APP", help="...")   # metavar None: a switch

``--json``, ``-q``/``--quiet`` and ``-h``/``--help`` are not in OPTIONS: ``--json`` and
``--help`` go with every command, ``-q`` with those marked ``quiet``. An option with
``everywhere`` set (``--registry``) goes with every command too. An option may come
anywhere on the line, before the command word too, and at most once. An option with
``alone`` set (``--range``) runs that command when given by itself without a value; one with
``seconds`` set takes a finite number of seconds >= 0, checked by the parser.

An option whose meaning differs by command says so in its help, part by part:
``"kill-port: send SIGTERM ...; wait: give up after S seconds"``. A part led by command names
(``ensure, port, env: ...``, ``dashboard --watch: ...``) is about those commands; one
command's help (``aioports wait --help``) shows only its own parts, or else the parts led by
no command name, or else the whole text. What a positional argument stands for is in
ARGUMENT_HELP, by its metavar, once for every command that takes one.

Adding a command is one ``Command`` entry here, its handler (in ``_commands.py`` or a module
of its own; import what it needs inside the function, so other commands do not pay for it),
and its result type with a schema file.

This module and ``_commands.py`` import nothing at the top but the standard library's
already-loaded modules: ``--help`` and the parser cost next to nothing.
"""

from __future__ import annotations

from . import _commands as commands

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from ._context import Context
    from ._results import Result

__all__ = ("ARGUMENT_HELP", "COMMANDS", "OPTIONS", "Arg", "Command", "Option", "by_name")


class Arg:
    """A positional argument of a command.

    :ivar name: the key handlers read it by
    :ivar metavar: how help and messages show it
    :ivar optional: True when it may be left out
    :ivar many: the last argument, given once or more (``release 3000 3001``)
    """

    __slots__ = ("many", "metavar", "name", "optional")

    def __init__(
        self, name: str, metavar: str, *, optional: bool = False, many: bool = False
    ) -> None:
        self.name, self.metavar, self.optional, self.many = name, metavar, optional, many

    @property
    def shown(self) -> str:
        """How help shows it: ``PORT...`` when it may be given several times."""
        return f"{self.metavar}..." if self.many else self.metavar


class Option:
    """An option (``--app APP``) or a switch (``--kill``, when ``metavar`` is None).

    :ivar optional_value: the value may be left out (``--range`` alone)
    :ivar alone: the command it runs when given by itself without a value
    :ivar empty_is_none: an empty value (``--app "$UNSET"``) counts as not given
    :ivar everywhere: every command takes it (``--registry``, ``--lock-timeout``)
    :ivar seconds: its value is a finite number of seconds >= 0
    """

    __slots__ = (
        "alone",
        "empty_is_none",
        "everywhere",
        "flag",
        "help",
        "metavar",
        "name",
        "optional_value",
        "seconds",
        "short",
    )

    def __init__(
        self,
        name: str,
        flag: str,
        metavar: str | None,
        help: str,
        *,
        short: str | None = None,
        optional_value: bool = False,
        alone: str | None = None,
        empty_is_none: bool = False,
        everywhere: bool = False,
        seconds: bool = False,
    ) -> None:
        self.name, self.flag, self.metavar, self.help = name, flag, metavar, help
        self.short, self.optional_value, self.alone = short, optional_value, alone
        self.empty_is_none, self.everywhere, self.seconds = empty_is_none, everywhere, seconds

    @property
    def shown(self) -> str:
        """How messages name it: an optional value is spelt out (``--range START-END``)."""
        return f"{self.flag} {self.metavar}" if self.optional_value else self.flag


class Command:
    """One command of the table (see the module docstring for each field)."""

    __slots__ = (
        "args",
        "example",
        "flag",
        "handler",
        "help",
        "name",
        "needs",
        "options",
        "quiet",
        "rest",
        "schema",
    )

    def __init__(
        self,
        name: str,
        flag: str | None,
        *,
        handler: Callable[[Context], Result],
        help: str,
        example: str,
        schema: str,
        args: tuple[Arg, ...] = (),
        options: tuple[str, ...] = (),
        needs: tuple[tuple[str, str], ...] = (),
        quiet: bool = False,
        rest: str | None = None,
    ) -> None:
        self.name, self.flag, self.handler, self.schema = name, flag, handler, schema
        self.help, self.example = help, example
        self.args, self.options, self.needs, self.quiet = args, options, needs, quiet
        #: the metavar of the command line it takes after ``--`` (``run``), or None
        self.rest = rest

    @property
    def shown(self) -> str:
        """How messages name it: the seed's flag where it has one."""
        return self.flag or self.name


def _lazy(module: str, name: str) -> Callable[[Context], Result]:
    """The handler ``name`` of ``aioports.cli.<module>``, imported when a run calls it: the
    table (and ``--help``) load no module of a command that is not run."""

    def handler(ctx: Context) -> Result:
        from importlib import import_module

        run: Callable[[Context], Result] = getattr(import_module(f"{__package__}.{module}"), name)
        return run(ctx)

    handler.__qualname__ = f"{module}.{name}"
    return handler


#: What a positional argument stands for, by its metavar (and a command line after ``--``,
#: by ``Command.rest``), in the help of each command that takes one.
ARGUMENT_HELP: dict[str, str] = {
    "PORT": "a TCP port, 1-65535",
    "N": "how many ports",
    "ID": "a port group's id, as allocate-group printed it",
    "START-END": "a range of ports, such as 4000-4999",
    "SERVICE": "a service's name, such as web",
    "NAME": "a schema's name ('aioports schema' lists them)",
    "COMMAND [ARG...]": "the command line to start, after --",
}

_META = ("app", "worktree")
OPTIONS: dict[str, Option] = {
    option.name: option
    for option in (
        Option(
            "range", "--range", "START-END",
            "the range to allocate from; alone, show the default range; ensure, port, env, "
            "run: the range a new named port comes from; run --once: that of its port",
            optional_value=True, alone="range",
        ),
        Option("app", "--app", "APP",
               "the app: stored with a new port; picks entries to list, release, clean up; "
               "ensure, port, env, run: the app the named port is for (default: this "
               "project's name)",
               empty_is_none=True),
        Option("worktree", "--worktree", "NAME",
               "the worktree, likewise; ensure, port, env, run: a folder of the checkout",
               empty_is_none=True),
        Option("service", "--service", "NAME", "the service name, likewise",
               empty_is_none=True),
        Option("preferred", "--preferred", "PORT",
               "the port a new named port takes when it is free and unallocated"),
        Option("format", "--format", "FORMAT", "dotenv (default), shell or json"),
        Option("write", "--write", "FILE",
               "create or update the aioports block of a .env file; no other byte changes"),
        Option("roles", "--roles", "A,B,C", "one role name per port of a group"),
        Option("owner_pid", "--owner-pid", "PID", "release when this process exits",
               empty_is_none=True),
        Option("kill", "--kill", None, "end the process that holds the port"),
        Option("force", "--force", None,
               "kill with SIGKILL, not SIGTERM; repair: also move what is no registry"),
        Option("allow_other_users", "--allow-other-users", None,
               "as root, also end another user's process"),
        Option("yes", "--yes", None, "do not ask", short="-y"),
        Option("timeout", "--timeout", "S",
               "kill-port, reserve --kill: send SIGTERM, wait up to S seconds for the port to "
               "be free, then SIGKILL; wait: give up after S seconds (default 60)",
               seconds=True),
        Option("dry_run", "--dry-run", None,
               "kill-port, reserve --kill: show who would be signalled, and change nothing; "
               "prune: show what would be removed, and change nothing"),
        Option("registry", "--registry", "PATH",
               "the registry file (instead of $AIOPORTS_REGISTRY)", everywhere=True),
        Option("lock_timeout", "--lock-timeout", "S",
               "seconds to wait for another process's hold on the registry (default 10)",
               everywhere=True, seconds=True),
        Option("watch", "--watch", None,
               "redraw in place every second until Ctrl-C, marking changes (a terminal only)"),
        Option("interval", "--interval", "S",
               "dashboard --watch: seconds between redraws (default 1); wait: look every S "
               "seconds (default 0.1)", seconds=True),
        Option("free", "--free", None, "wait: until a server could start on the port"),
        Option("pid", "--pid", "PID", "wait: the listener must be PID or a descendant"),
        Option("once", "--once", None, "run: on a one-shot port, released when the command ends"),
        Option("fd", "--fd", None, "run: pass the listening socket as fd 3 (systemd's protocol)"),
        Option("env", "--env", "NAME", "run: the variable the port goes in (default PORT)"),
        Option("host", "--host", "ADDRESS", "run: the address to bind and show (127.0.0.1)"),
        Option("grace", "--grace", "S",
               "run: seconds the command gets to exit after a stop, then SIGKILL (default 5)",
               seconds=True),
    )
}  # fmt: skip

_PICK = (*_META, "service")
_PORT = (Arg("port", "PORT"),)
_PORTS = (Arg("port", "PORT", many=True),)
_KILL = ("force", "allow_other_users", "timeout", "dry_run")
_SPAN = (Arg("range", "START-END"),)
COMMANDS: tuple[Command, ...] = (
    Command(
        "allocate", "--allocate", handler=commands.allocate, schema="allocated",
        options=("range", *_META, "service", "owner_pid"), quiet=True,
        example="--allocate --app demo --worktree main --service api",
        help="allocate the lowest free port of the range",
    ),
    Command(
        "allocate-group", "--allocate-group", handler=commands.allocate_group,
        schema="group_allocated", args=(Arg("count", "N"),),
        options=("roles", "range", *_META, "owner_pid"), quiet=True,
        example="--allocate-group 3 --roles frontend,backend,test --app demo",
        help="allocate N ports in one step, one per role",
    ),
    Command(
        "release", "--release", handler=commands.release, schema="released",
        args=(Arg("port", "PORT", many=True, optional=True),), options=_PICK,
        example="--release 3000",
        help="free allocated ports, or those picked by --app, --worktree, --service",
    ),
    Command(
        "release-group", "--release-group", handler=commands.release_group,
        schema="group_released", args=(Arg("group_id", "ID"),),
        example="--release-group 1a2b3c4d5e6f", help="free every port of a group",
    ),
    Command(
        "list", "--list", handler=commands.list_allocations, schema="list", options=_PICK,
        example="--list", help="every allocation, or those picked",
    ),
    Command(
        "probe", "--probe", handler=commands.probe, schema="probe", args=_PORTS, quiet=True,
        example="--probe 3000",
        help="could a server start on PORT now? (exit 0 free, 3 in use, 4 denied)",
    ),
    Command(
        "cleanup", "--cleanup", handler=commands.cleanup, schema="cleanup",
        options=("yes", *_PICK), example="--cleanup --yes",
        help="remove every allocation, or those picked (asks; off a terminal needs --yes)",
    ),
    Command(
        "repair", "--repair", handler=commands.repair, schema="repair", options=("force",),
        example="--repair",
        help="set an unreadable registry aside, keeping its valid entries (--force: also "
        "a folder or another program's file in its place)",
    ),
    Command(
        "range", "--range", handler=commands.show_range, schema="range", quiet=True,
        example="--range", help="show the default range and where it comes from",
    ),
    Command(
        "set-range", "--set-range", handler=commands.set_range, schema="range", args=_SPAN,
        example="--set-range 4000-4999",
        help="change the default range (saved next to the registry)",
    ),
    Command(
        "dashboard", "--dashboard", handler=_lazy("_watch", "dashboard"), schema="dashboard",
        options=(*_PICK, "watch", "interval"), needs=(("interval", "watch"),),
        example="--dashboard",
        help="allocations by app and worktree, with their live state",
    ),
    Command(
        "ensure", None, handler=_lazy("_named", "ensure"), schema="ensured",
        args=(Arg("services", "SERVICE", many=True, optional=True),),
        options=(*_META, "preferred", "range"), example="ensure web --preferred 8000",
        help="the stable port of each SERVICE here (default: the manifest's services)",
    ),
    Command(
        "port", None, handler=_lazy("_named", "port"), schema="port",
        args=(Arg("service", "SERVICE", optional=True),),
        options=(*_META, "preferred", "range"), quiet=True, example="port web",
        help="only the stable port of SERVICE, for $(aioports port web)",
    ),
    Command(
        "env", None, handler=_lazy("_named", "env"), schema="env",
        args=(Arg("services", "SERVICE", many=True, optional=True),),
        options=(*_META, "range", "format", "write"), example="env --write .env",
        help="the project's ports as PORT=8000 lines, or into a .env file",
    ),
    Command(
        "prune", None, handler=_lazy("_named", "prune"), schema="prune", options=("dry_run",),
        example="prune --dry-run",
        help="remove provably stale entries (dead owners, worktrees gone)",
    ),
    Command(
        "reserve", "--reserve", handler=_lazy("_kill", "reserve"), schema="reserve", args=_PORT,
        options=(*_META, "service", "owner_pid", "kill", *_KILL),
        needs=tuple((name, "kill") for name in _KILL),
        example="--reserve 11434 --kill",
        help="record this exact port, optionally ending its occupier",
    ),
    Command(
        "detect", "--detect", handler=commands.detect, schema="detect", args=_PORTS,
        quiet=True, example="--detect 3000", help="which processes hold PORT?",
    ),
    Command(
        "kill-port", "--kill-port", handler=_lazy("_kill", "kill_port"), schema="kill", args=_PORTS,
        options=_KILL,
        example="--kill-port 3000 --force", help="end the processes that hold PORT",
    ),
    Command(
        "why", None, handler=_lazy("_why", "why"), schema="why", args=_PORTS,
        example="why 3000", help="everything that stands between a server and PORT",
    ),
    Command(
        "scan", "--scan", handler=commands.scan, schema="scan", args=_SPAN,
        example="--scan 3000-3999", help="the ports of a range that are in use, and by whom",
    ),
    Command(
        "wait", None, handler=_lazy("_wait", "wait"), schema="wait", args=(Arg("target", "PORT"),),
        options=("free", "timeout", "interval", "pid"),
        example="wait 8000 --timeout 30",
        help="wait until a server listens on PORT (--free: until one could start there)",
    ),
    Command(
        "run", None, handler=_lazy("_run", "run"), schema="error",
        args=(Arg("service", "SERVICE", optional=True),), rest="COMMAND [ARG...]",
        options=("once", "fd", "env", "host", "kill", "grace", "range", *_META), quiet=True,
        example="run --once --fd -- uvicorn --fd {fd} app:app",
        help="start COMMAND on the service's port (--once: a port of its own), with PORT set",
    ),
    Command(
        "mcp", None, handler=_lazy("_mcp", "serve"), schema="error",
        example="mcp",
        help="serve these commands as MCP tools over stdio (needs 'aioports[mcp]')",
    ),
    Command(
        "version", "--version", handler=commands.version, schema="version",
        example="--version", help="print the version",
    ),
    Command(
        "schema", None, handler=_lazy("_schema", "schema"), schema="schema",
        args=(Arg("name", "NAME", optional=True),),
        example="schema probe", help="print the JSON Schema NAME (alone: the list of names)",
    ),
)  # fmt: skip


def by_name(name: str) -> Command:
    """The command called ``name``."""
    for command in COMMANDS:
        if command.name == name:
            return command
    raise KeyError(name)
