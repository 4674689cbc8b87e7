"""The parser, generated from the command table (``_table.py``); the help comes from the same
table (``_help.py``).

A small parser of our own rather than argparse: argparse costs more to import and build than
the rest of a quick command, and it cannot express the seed's forms (a command as a word or
as a flag, options before the command word, ``--range`` with or without a value) without
the hand-kept rewriting and scoping that drifted. Usage problems raise :class:`UsageError`.
"""

from __future__ import annotations

from ._errors import UsageError
from ._table import COMMANDS, OPTIONS, Command, Option

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ("HELP_HINT", "Parsed", "parse")

HELP_HINT = "(see 'aioports --help')"


class Parsed:
    """A parsed command line.

    :ivar command: the command chosen; with ``help``, the command whose help was asked
        for, or None for the whole help
    :ivar args: its positional arguments by name (of a ``many`` argument, the first value)
    :ivar options: the options given, by name: the text of an option's value, True for a
        switch (or ``--range`` without a value)
    :ivar json: ``--json`` was given
    :ivar help: ``-h``/``--help`` (or the word ``help``) was given: show help, run nothing
    :ivar many: every value of the command's ``many`` argument, in order (empty without one)
    :ivar quiet: ``-q``/``--quiet`` was given: print only the value
    """

    __slots__ = ("args", "command", "help", "json", "many", "options", "quiet", "rest")

    def __init__(
        self,
        command: Command | None,
        args: dict[str, str],
        options: dict[str, str | bool],
        *,
        json: bool,
        help: bool = False,
        many: tuple[str, ...] = (),
        quiet: bool = False,
    ) -> None:
        self.command, self.args, self.options = command, args, options
        self.json, self.help, self.many, self.quiet = json, help, many, quiet
        #: what came after ``--``, for a command that takes a command line (``run``)
        self.rest: tuple[str, ...] = ()


def _looks_like_option(token: str) -> bool:
    """``-x`` or ``--x``, but not ``-`` or a negative number (a bad port to report as such)."""
    return token.startswith("-") and len(token) > 1 and not token[1:].isdigit()


def parse(argv: Sequence[str]) -> Parsed:
    """Parse ``argv``: the command as a word or a flag, its arguments and its own options.

    :raises UsageError: for unknown arguments, two commands, a missing value, or an option
        its command does not take.
    """
    options_by_flag: dict[str, Option] = {}
    for spec in OPTIONS.values():
        options_by_flag[spec.flag] = spec
        if spec.short is not None:
            options_by_flag[spec.short] = spec
    # A command whose flag is also an option (``--range``) is that option given alone.
    by_flag = {c.flag: c for c in COMMANDS if c.flag and c.flag not in options_by_flag}
    by_word = {c.name: c for c in COMMANDS}
    command: Command | None = None
    named = ""  # how the command was given, for messages
    values: list[str] = []
    options: dict[str, str | bool] = {}
    unknown: list[str] = []
    json = help = quiet = False
    after: tuple[str, ...] | None = None  # the command line after ``--`` (``run``)
    tokens = list(argv)
    index = 0

    def value_of(flag: str, inline: str | None) -> str:
        nonlocal index
        if inline is not None:
            return inline
        if index >= len(tokens) or _looks_like_option(tokens[index]):
            raise UsageError(f"argument {flag}: expected one argument {HELP_HINT}")
        index += 1
        return tokens[index - 1]

    while index < len(tokens):
        token = tokens[index]
        index += 1
        if token == "--":  # everything after it is an argument
            if command is not None and command.rest is not None:
                after = tuple(tokens[index:])
            else:
                values += tokens[index:]
            break
        if not _looks_like_option(token):
            if command is None and token == "help":
                help = True
            elif command is None and token in by_word:
                command, named = by_word[token], token
            elif command is None:
                unknown.append(token)
            else:
                values.append(token)
            continue
        flag, equals, rest = token.partition("=") if token.startswith("--") else (token, "", "")
        inline = rest if equals else None
        if flag == "--json":
            json = True
        elif flag in ("-h", "--help"):
            help = True
        elif flag in ("-q", "--quiet"):
            quiet = True
        elif flag in by_flag:
            if command is not None and not (by_flag[flag] is command and _takes_many(command)):
                raise UsageError(f"argument {flag}: not allowed with argument {named} {HELP_HINT}")
            # ``--release 1 --release 2``: the same command again adds a value, never replaces.
            command, named = by_flag[flag], named or flag
            if inline is None and tokens[index : index + 1] in (["-h"], ["--help"]):
                continue  # ``--probe --help``: the command's help, not a value
            if not command.args:
                continue
            # The seed's form: the flag's value is the first argument; where that argument
            # may be left out, the flag may stand alone (``--release --app shop``).
            first = command.args[0]
            if inline is None and first.optional and _no_value_follows(tokens, index):
                continue
            values.append(value_of(flag, inline))
            continue
        if flag in ("--json", "-h", "--help", "-q", "--quiet"):
            continue
        option = options_by_flag.get(flag)
        if option is not None and option.metavar is not None and option.name in options:
            # The last one winning silently is the classic trap: say so instead.
            raise UsageError(f"{option.flag} given twice; give it once {HELP_HINT}")
        if option is None:
            unknown.append(token)
        elif option.metavar is None:
            options[option.name] = True
        elif option.optional_value:
            if inline is None and index < len(tokens):
                following = tokens[index]
                if not _looks_like_option(following) and following not in by_word:
                    inline = following
                    index += 1
            options[option.name] = True if inline is None else inline
        else:
            options[option.name] = value_of(flag, inline)
    if help:
        return _help(command, options, unknown, json=json)
    if command is not None and command.rest is not None and after is None:
        from ._help import arg_usage  # only for this message: parsing loads no help

        raise UsageError(
            f"{command.name} needs a command after --: aioports {command.name} "
            f"{' '.join(arg_usage(a) for a in command.args)} -- {command.rest} {HELP_HINT}"
        )
    parsed = _checked(command, values, options, unknown, json=json)
    _check_quiet(parsed, quiet)
    parsed.quiet = quiet
    parsed.rest = after or ()
    return parsed


def _help(
    command: Command | None,
    options: dict[str, str | bool],
    unknown: list[str],
    *,
    json: bool,
) -> Parsed:
    """What ``--help`` (or ``help``) asks for: the help of the command given, or the whole
    help. A word that is no command (``help nosuch``, ``nosuch --help``) is the usage error the
    command line would give without ``--help``; options are not checked, as help runs nothing."""
    words = [token for token in unknown if not _looks_like_option(token)]
    if words:
        raise UsageError(f"unrecognized arguments: {' '.join(words)} {HELP_HINT}")
    if command is None:  # ``--range --help``: the command an option runs when given alone
        alone = [OPTIONS[name].alone for name, value in options.items() if value is True]
        command = next((_command(name) for name in alone if name is not None), None)
    return Parsed(command, {}, {}, json=json, help=True)


def _no_value_follows(tokens: Sequence[str], index: int) -> bool:
    """Whether ``tokens[index]`` is no value: past the end, an option, or ``--``."""
    return index >= len(tokens) or _looks_like_option(tokens[index])


def _takes_many(command: Command) -> bool:
    return len(command.args) == 1 and command.args[0].many


def _seconds(flag: str, text: str) -> None:
    """Refuse anything but a finite number of seconds >= 0 (``-1``, ``nan``, ``soon``)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise UsageError(f"{flag} must be a finite number of seconds >= 0, got {text!r}")


def _check_quiet(parsed: Parsed, quiet: bool) -> None:
    command = parsed.command
    if not quiet or command is None:
        return
    if parsed.json:
        raise UsageError(f"-q/--quiet and --json exclude each other: pick one {HELP_HINT}")
    if not command.quiet:
        takers = ", ".join(c.name for c in COMMANDS if c.quiet)
        raise UsageError(
            f"-q/--quiet only applies to {takers}: {command.name} has no single value to print"
        )


def _checked(
    command: Command | None,
    values: list[str],
    options: dict[str, str | bool],
    unknown: list[str],
    *,
    json: bool,
) -> Parsed:
    """Fit the arguments and options to the command, as the table says."""
    if command is not None and not (command.args and command.args[-1].many):
        unknown += values[len(command.args) :]
    if unknown:
        raise UsageError(f"unrecognized arguments: {' '.join(unknown)} {HELP_HINT}")
    for name, value in options.items():
        lone = OPTIONS[name].alone
        if lone is None or (command is not None and command.name != lone):
            continue
        if value is not True:  # "--range 4000-4999" with no command to apply it to
            raise UsageError(
                f"{OPTIONS[name].shown} needs a command such as --allocate; "
                "to change the default range use --set-range START-END"
            )
        command = _command(lone)
    if command is None:
        raise UsageError(f"no command given {HELP_HINT}")
    for name, value in list(options.items()):
        option = OPTIONS[name]
        if option.empty_is_none and value == "":
            del options[name]  # an empty value ("--app $UNSET") is no value
        elif option.optional_value and value is True and command.name != option.alone:
            raise UsageError(f"{option.flag} needs a value: {option.shown} (such as 4000-4999)")
        elif name not in command.options and command.name != option.alone and not option.everywhere:
            users = ", ".join(c.shown for c in COMMANDS if name in c.options)
            raise UsageError(f"{option.shown} only applies to {users}")
        elif option.seconds and isinstance(value, str):
            _seconds(option.flag, value)
        elif option.everywhere and value == "":
            raise UsageError(f"{option.flag} needs a value: {option.flag} {option.metavar}")
    for name, needed in command.needs:
        if name in options and needed not in options:
            raise UsageError(
                f"{OPTIONS[name].flag} with {command.shown} needs {OPTIONS[needed].flag}"
            )
    args = dict(zip((a.name for a in command.args), values, strict=False))
    missing = [a.metavar for a in command.args if a.name not in args and not a.optional]
    if missing:
        raise UsageError(
            f"{command.name} needs {' '.join(missing)}: aioports {command.name} "
            f"{' '.join(a.shown for a in command.args)} {HELP_HINT}"
        )
    many = tuple(values[len(command.args) - 1 :]) if command.args and command.args[-1].many else ()
    return Parsed(command, args, options, json=json, many=many)


def _command(name: str) -> Command:
    for command in COMMANDS:
        if command.name == name:
            return command
    raise KeyError(name)  # pragma: no cover - the table names only its own commands
