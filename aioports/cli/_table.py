"""The command table: one spec per command generates the parser (``_parse.py``), the seed's
flag forms, the option scoping, the help text and its examples.

Shape of an entry::

    Command(
        name="allocate-group",          # the word: ``aioports allocate-group 3``
        flag="--allocate-group",        # the seed's flag form (``aioports --allocate-group 3``),
                                        # or None for a command the seed does not have
        args=(Arg("count", "N"),),      # positional arguments in order; the flag form takes
                                        # the first one as the flag's value
        options=("roles", "range", "app", "worktree", "owner_pid"),
                                        # names in OPTIONS: the only options it accepts
        needs=(("force", "kill"),),     # (option, option it needs), as ``--force`` needs ``--kill``
        handler=commands.allocate_group,   # Context -> a result from ``_results*.py``; the
                                        # result says how it looks (``status``, ``message``,
                                        # ``to_dict()``, ``human()``) in both outputs
        schema="group_allocated",       # the file in ``schemas/`` its ``--json`` document matches
        example="--allocate-group 3 --roles frontend,backend,test --app demo",
        help="allocate N ports in one step, one per role",
    )

    Option(name="app", flag="--app", metavar="APP", help="...")   # metavar None: a switch

``--json`` and ``-h``/``--help`` are accepted by every command and are not in OPTIONS. An
option may come anywhere on the line, before the command word too. An option with
``alone`` set (``--range``) runs that command when given by itself without a value.

Adding a command is one ``Command`` entry here, its handler (in ``_commands.py`` or a module
of its own; import what it needs inside the function, so other commands do not pay for it),
and its result type with a schema file.

This module and ``_commands.py`` import nothing at the top but the standard library's
already-loaded modules: ``--help`` and the parser cost next to nothing.
"""

from __future__ import annotations

from . import _commands as commands
from . import _watch as watch

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from ._context import Context
    from ._results import Result

__all__ = ("COMMANDS", "OPTIONS", "Arg", "Command", "Option", "by_name")


class Arg:
    """A positional argument of a command.

    :ivar name: the key handlers read it by
    :ivar metavar: how help and messages show it
    :ivar optional: True when it may be left out
    """

    __slots__ = ("metavar", "name", "optional")

    def __init__(self, name: str, metavar: str, *, optional: bool = False) -> None:
        self.name, self.metavar, self.optional = name, metavar, optional


class Option:
    """An option (``--app APP``) or a switch (``--kill``, when ``metavar`` is None).

    :ivar optional_value: the value may be left out (``--range`` alone)
    :ivar alone: the command it runs when given by itself without a value
    :ivar empty_is_none: an empty value (``--app "$UNSET"``) counts as not given
    """

    __slots__ = (
        "alone",
        "empty_is_none",
        "flag",
        "help",
        "metavar",
        "name",
        "optional_value",
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
    ) -> None:
        self.name, self.flag, self.metavar, self.help = name, flag, metavar, help
        self.short, self.optional_value, self.alone = short, optional_value, alone
        self.empty_is_none = empty_is_none

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
    ) -> None:
        self.name, self.flag, self.handler, self.schema = name, flag, handler, schema
        self.help, self.example = help, example
        self.args, self.options, self.needs = args, options, needs

    @property
    def shown(self) -> str:
        """How messages name it: the seed's flag where it has one."""
        return self.flag or self.name


_META = ("app", "worktree")
OPTIONS: dict[str, Option] = {
    option.name: option
    for option in (
        Option(
            "range", "--range", "START-END",
            "the range to allocate from; alone, show the default range",
            optional_value=True, alone="range",
        ),
        Option("app", "--app", "APP", "the application the port is for (stored with it)",
               empty_is_none=True),
        Option("worktree", "--worktree", "NAME", "the worktree or branch (stored with it)",
               empty_is_none=True),
        Option("service", "--service", "NAME", "the service name (stored with it)",
               empty_is_none=True),
        Option("roles", "--roles", "A,B,C", "one role name per port of a group"),
        Option("owner_pid", "--owner-pid", "PID", "release when this process exits",
               empty_is_none=True),
        Option("kill", "--kill", None, "end the process that holds the port"),
        Option("force", "--force", None,
               "kill with SIGKILL, not SIGTERM; repair: also move what is no registry"),
        Option("allow_other_users", "--allow-other-users", None,
               "as root, also end another user's process"),
        Option("yes", "--yes", None, "do not ask", short="-y"),
        Option("watch", "--watch", None,
               "redraw in place every second until Ctrl-C, marking changes (a terminal only)"),
        Option("interval", "--interval", "S", "seconds between --watch redraws (default 1)"),
    )
}  # fmt: skip

_PORT = (Arg("port", "PORT"),)
_SPAN = (Arg("range", "START-END"),)
COMMANDS: tuple[Command, ...] = (
    Command(
        "allocate", "--allocate", handler=commands.allocate, schema="allocated",
        options=("range", *_META, "service", "owner_pid"),
        example="--allocate --app demo --worktree main --service api",
        help="allocate the lowest free port of the range",
    ),
    Command(
        "allocate-group", "--allocate-group", handler=commands.allocate_group,
        schema="group_allocated", args=(Arg("count", "N"),),
        options=("roles", "range", *_META, "owner_pid"),
        example="--allocate-group 3 --roles frontend,backend,test --app demo",
        help="allocate N ports in one step, one per role",
    ),
    Command(
        "release", "--release", handler=commands.release, schema="released", args=_PORT,
        example="--release 3000", help="free one allocated port",
    ),
    Command(
        "release-group", "--release-group", handler=commands.release_group,
        schema="group_released", args=(Arg("group_id", "ID"),),
        example="--release-group 1a2b3c4d5e6f", help="free every port of a group",
    ),
    Command(
        "list", "--list", handler=commands.list_allocations, schema="list",
        example="--list", help="every allocation",
    ),
    Command(
        "probe", "--probe", handler=commands.probe, schema="probe", args=_PORT,
        example="--probe 3000", help="could a server start on port PORT now?",
    ),
    Command(
        "cleanup", "--cleanup", handler=commands.cleanup, schema="cleanup", options=("yes",),
        example="--cleanup --yes", help="remove every allocation (asks first on a terminal)",
    ),
    Command(
        "repair", "--repair", handler=commands.repair, schema="repair", options=("force",),
        example="--repair",
        help="set an unreadable registry aside, keeping its valid entries (--force: also "
        "a folder or another program's file in its place)",
    ),
    Command(
        "range", "--range", handler=commands.show_range, schema="range",
        example="--range", help="show the default range and where it comes from",
    ),
    Command(
        "set-range", "--set-range", handler=commands.set_range, schema="range", args=_SPAN,
        example="--set-range 4000-4999",
        help="change the default range (saved next to the registry)",
    ),
    Command(
        "dashboard", "--dashboard", handler=watch.dashboard, schema="dashboard",
        options=("watch", "interval"), needs=(("interval", "watch"),),
        example="--dashboard", help="allocations by app and worktree, with their live state",
    ),
    Command(
        "reserve", "--reserve", handler=commands.reserve, schema="reserve", args=_PORT,
        options=(*_META, "service", "kill", "force", "allow_other_users"),
        needs=(("force", "kill"), ("allow_other_users", "kill")),
        example="--reserve 11434 --kill",
        help="record this exact port, optionally ending its occupier",
    ),
    Command(
        "detect", "--detect", handler=commands.detect, schema="detect", args=_PORT,
        example="--detect 3000", help="which process holds port PORT?",
    ),
    Command(
        "kill-port", "--kill-port", handler=commands.kill_port, schema="kill", args=_PORT,
        options=("force", "allow_other_users"),
        example="--kill-port 3000 --force", help="end the process that holds port PORT",
    ),
    Command(
        "scan", "--scan", handler=commands.scan, schema="scan", args=_SPAN,
        example="--scan 3000-3999", help="the ports of a range that are in use, and by whom",
    ),
    Command(
        "version", "--version", handler=commands.version, schema="version",
        example="--version", help="print the version",
    ),
)  # fmt: skip


def by_name(name: str) -> Command:
    """The command called ``name``."""
    for command in COMMANDS:
        if command.name == name:
            return command
    raise KeyError(name)
