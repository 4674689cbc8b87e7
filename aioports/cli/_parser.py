"""The argument parser: the seed's flags (``--allocate``) and the same commands as words
(``aioports allocate``), both landing on one :class:`argparse.Namespace` shape."""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from typing import NoReturn

from .. import InvalidPortError, PortRange
from ._errors import UsageError

__all__ = ("COMMANDS", "ParsedArgs", "build_parser", "command_of", "parse", "port_arg", "range_arg")

#: command (the Namespace attribute) -> the flag that selects it
COMMANDS: dict[str, str] = {
    "allocate": "--allocate",
    "allocate_group": "--allocate-group",
    "release": "--release",
    "release_group": "--release-group",
    "list": "--list",
    "probe": "--probe",
    "cleanup": "--cleanup",
    "repair": "--repair",
    "set_range": "--set-range",
    "dashboard": "--dashboard",
    "reserve": "--reserve",
    "detect": "--detect",
    "kill_port": "--kill-port",
    "scan": "--scan",
    "version": "--version",
}

#: option (Namespace attribute) -> the commands it applies to
OPTION_COMMANDS: dict[str, frozenset[str]] = {
    "app": frozenset({"allocate", "allocate_group", "reserve"}),
    "worktree": frozenset({"allocate", "allocate_group", "reserve"}),
    "service": frozenset({"allocate", "reserve"}),
    "roles": frozenset({"allocate_group"}),
    "owner_pid": frozenset({"allocate", "allocate_group"}),
    "kill": frozenset({"reserve"}),
    "force": frozenset({"reserve", "kill_port"}),
    "allow_other_users": frozenset({"reserve", "kill_port"}),
    "yes": frozenset({"cleanup"}),
}

_FLAGS_WITH_VALUE = frozenset({"--app", "--worktree", "--service", "--roles", "--owner-pid"})

EXAMPLES = """\
commands (each also works as a word: 'aioports allocate --app demo'):
  aioports --allocate --app demo --worktree main --service api
                                   allocate the lowest free port of the default range
  aioports --allocate --range 4000-4999 --owner-pid $$
                                   allocate from 4000-4999, released when this shell exits
  aioports --allocate-group 3 --roles frontend,backend,test --app demo
                                   allocate 3 ports in one step, one per role
  aioports --release 3000          free one allocated port
  aioports --release-group 1a2b3c4d5e6f
                                   free every port of a group
  aioports --list                  every allocation
  aioports --probe 3000            could a server start on port 3000 now?
  aioports --cleanup [--yes]       remove every allocation (asks first on a terminal)
  aioports --repair                move an unreadable registry aside and start afresh
  aioports --range                 show the default range
  aioports --set-range 4000-4999   change the default range (saved next to the registry)
  aioports --dashboard             allocations by app and worktree, with their live state
  aioports --reserve 11434 [--kill [--force] [--allow-other-users]]
                                   record this exact port, optionally ending its occupier
  aioports --detect 3000           which process holds port 3000?
  aioports --kill-port 3000 [--force] [--allow-other-users]
                                   end the process that holds port 3000
  aioports --scan 3000-3999        the ports of a range that are in use, and by whom
  aioports --version

Add --json to any command for one JSON document on stdout (errors included).
Ports are whole numbers 1-65535 (ASCII digits; surrounding spaces are ignored).
Exit codes: 0 success, 1 failure, 2 bad arguments, 130 interrupted.
Environment: AIOPORTS_REGISTRY (registry file), AIOPORTS_RANGE (default range),
NO_COLOR (plain output), AIOPORTS_DEBUG=1 (tracebacks for unexpected errors).
"""


class ParsedArgs(argparse.Namespace):
    """The parsed command line, typed."""

    allocate: bool
    allocate_group: str | None
    release: str | None
    release_group: str | None
    list: bool
    probe: str | None
    cleanup: bool
    repair: bool
    set_range: str | None
    dashboard: bool
    reserve: str | None
    detect: str | None
    kill_port: str | None
    scan: str | None
    version: bool
    range: str | None
    app: str | None
    worktree: str | None
    service: str | None
    roles: str | None
    owner_pid: str | None
    kill: bool
    force: bool
    allow_other_users: bool
    yes: bool
    json: bool


# ASCII digits only, no sign: int() would also take "+80", "3_000" and other scripts' digits.
_INTEGER = re.compile(r"[0-9]+")

HELP_HINT = "(see 'aioports --help')"

#: what ``--range`` holds when it is given without a value (show the default range)
SHOW_RANGE = "\0show"


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises instead of exiting, so ``main`` stays in charge."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} {HELP_HINT}")


class HelpShown(Exception):
    """Raised once ``--help`` has printed the help."""


class _HelpAction(argparse.Action):
    def __call__(self, parser: argparse.ArgumentParser, *_: object, **__: object) -> None:
        parser.print_help()
        raise HelpShown


def build_parser() -> argparse.ArgumentParser:
    """The parser for every command; usage problems raise :class:`UsageError`."""
    parser = _Parser(
        prog="aioports",
        usage="aioports COMMAND [OPTIONS]   (COMMAND: --allocate or allocate, --list or list ...)",
        description="Hand out, track, probe and free TCP ports on this host.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=False,
        allow_abbrev=False,
    )
    commands = parser.add_argument_group("commands (choose one)").add_mutually_exclusive_group()
    commands.add_argument("--allocate", action="store_true", help="allocate one port")
    commands.add_argument("--allocate-group", metavar="N", help="allocate N ports together")
    commands.add_argument("--release", metavar="PORT", help="free an allocated port")
    commands.add_argument("--release-group", metavar="ID", help="free every port of a group")
    commands.add_argument("--list", action="store_true", help="list every allocation")
    commands.add_argument("--probe", metavar="PORT", help="could a server start on PORT now?")
    commands.add_argument("--cleanup", action="store_true", help="remove every allocation")
    commands.add_argument("--repair", action="store_true", help="move a corrupt registry aside")
    commands.add_argument("--set-range", metavar="START-END", help="save the default range")
    commands.add_argument("--dashboard", action="store_true", help="allocations, live state")
    commands.add_argument("--reserve", metavar="PORT", help="record this exact port")
    commands.add_argument("--detect", metavar="PORT", help="which process holds PORT?")
    commands.add_argument("--kill-port", metavar="PORT", help="end the process holding PORT")
    commands.add_argument("--scan", metavar="START-END", help="the in-use ports of a range")
    commands.add_argument("--version", action="store_true", help="print the version")

    options = parser.add_argument_group("options")
    options.add_argument("-h", "--help", action=_HelpAction, nargs=0, help="show this help")
    options.add_argument(
        "--range",
        metavar="START-END",
        nargs="?",
        const=SHOW_RANGE,
        help="the range to allocate from; alone, show the default range",
    )
    options.add_argument("--app", help="the application the port is for (stored with it)")
    options.add_argument("--worktree", help="the worktree or branch (stored with it)")
    options.add_argument("--service", help="the service name (stored with it)")
    options.add_argument("--roles", metavar="A,B,C", help="one role name per port of a group")
    options.add_argument("--owner-pid", metavar="PID", help="release when this process exits")
    options.add_argument("--kill", action="store_true", help="--reserve: end the occupier")
    options.add_argument("--force", action="store_true", help="kill with SIGKILL, not SIGTERM")
    options.add_argument(
        "--allow-other-users",
        action="store_true",
        help="as root, also end another user's process (--kill-port, --reserve --kill)",
    )
    options.add_argument("-y", "--yes", action="store_true", help="--cleanup: do not ask")
    options.add_argument("--json", action="store_true", help="one JSON document on stdout")
    return parser


def words_to_flags(argv: Sequence[str]) -> list[str]:
    """Turn the first command word into its flag: ``allocate --app x`` -> ``--allocate --app x``.

    Only the first bare word counts, so option values (``--app list``) are never taken for one.
    """
    words = {flag[2:]: flag for flag in COMMANDS.values()} | {"range": "--range", "help": "--help"}
    out = list(argv)
    index = 0
    while index < len(out):
        token = out[index]
        if token in _FLAGS_WITH_VALUE:
            index += 2
            continue
        nxt = out[index + 1] if index + 1 < len(out) else None
        if token == "--range" and nxt is not None and nxt not in words and nxt[:1] != "-":
            index += 2  # its value is optional: "--range 4000-4999 allocate" has one
            continue
        if token.startswith("-"):
            index += 1
            continue
        if token in words:
            out[index] = words[token]
        break
    return out


def parse(argv: Sequence[str]) -> ParsedArgs:
    """Parse ``argv`` (words or flags) and check that its options fit its command.

    :raises UsageError: for unknown options, two commands, or an option its command ignores.
    :raises HelpShown: once ``--help`` has been printed.
    """
    args = build_parser().parse_args(words_to_flags(argv), namespace=ParsedArgs())
    for option in ("app", "worktree", "service", "owner_pid"):
        if getattr(args, option) == "":
            setattr(args, option, None)  # an empty value ("--app $UNSET") is no value
    command = command_of(args)
    if command is None:
        raise UsageError(f"no command given {HELP_HINT}")
    if args.range == SHOW_RANGE and command != "range":
        raise UsageError("--range needs a value: --range START-END (such as 4000-4999)")
    for option, allowed in OPTION_COMMANDS.items():
        value = getattr(args, option)
        if value not in (None, False) and command not in allowed:
            flag = "--" + option.replace("_", "-")
            uses = ", ".join(sorted(COMMANDS[c] for c in allowed))
            raise UsageError(f"{flag} only applies to {uses}")
    if args.range is not None and command not in ("allocate", "allocate_group", "range"):
        raise UsageError("--range START-END only applies to --allocate and --allocate-group")
    if command == "range" and args.range != SHOW_RANGE:
        raise UsageError(
            "--range START-END needs a command such as --allocate; "
            "to change the default range use --set-range START-END"
        )
    if args.force and command == "reserve" and not args.kill:
        raise UsageError("--force with --reserve needs --kill")
    if args.allow_other_users and command == "reserve" and not args.kill:
        raise UsageError("--allow-other-users with --reserve needs --kill")
    return args


def command_of(args: ParsedArgs) -> str | None:
    """The command chosen, ``range`` for a lone ``--range``, or None for none."""
    for command in COMMANDS:
        if getattr(args, command) not in (None, False):
            return command
    return "range" if args.range is not None else None


def port_arg(text: str) -> int:
    """A port from the command line.

    :raises InvalidPortError: unless ``text`` is a whole number from 1 to 65535 in ASCII
        digits (leading zeros and surrounding whitespace are fine; a sign is not).
    """
    if _INTEGER.fullmatch(text.strip()) is None:
        raise InvalidPortError(text)
    value = int(text)
    if not 1 <= value <= 65535:
        raise InvalidPortError(value)
    return value


def range_arg(text: str) -> PortRange:
    """A range from the command line (``4000-4999``).

    :raises InvalidRangeError: when it is malformed, empty, inverted or out of bounds.
    """
    return PortRange.parse(text)


def count_arg(text: str, what: str) -> int:
    """A positive whole number from the command line.

    :raises UsageError: otherwise.
    """
    if _INTEGER.fullmatch(text.strip()) is None:
        raise UsageError(f"{what} must be a positive whole number, got {text!r}")
    value = int(text)
    if value < 1:
        raise UsageError(f"{what} must be a positive whole number, got {value}")
    return value
