"""The help, generated from the command table (``_table.py``): the whole of it for
``aioports --help``, one command's for ``aioports COMMAND --help`` (or ``aioports help
COMMAND``, or the flag form ``aioports --probe --help``).

It reads only the table, never a handler's module, so asking for help costs what parsing
costs. One command's help fits :data:`WIDTH` columns whatever the terminal (a pipe, an
agent): the same text everywhere, as the whole help is.
"""

from __future__ import annotations

from ._table import ARGUMENT_HELP, COMMANDS, OPTIONS, Arg, Command, Option

__all__ = ("WIDTH", "arg_usage", "help_text")

#: the columns one command's help fits in
WIDTH = 80
_LEFT = 24  # the left column of a row (an option, an argument), as in the whole help
_INDENT = " " * (_LEFT + 4)

_EPILOG = """\
Add --json to any command for one JSON document on stdout (errors included).
Ports are whole numbers 1-65535 (ASCII digits; surrounding spaces are ignored).
Commands that take PORT... act on each port given (also as --release 1 --release 2).
Exit codes: 0 success, 1 failure, 2 bad arguments, 3 probe: in use, 4 probe: denied,
130 interrupted, 143 terminated.
Environment: AIOPORTS_REGISTRY (registry file), AIOPORTS_RANGE (default range),
AIOPORTS_CONFIG (settings file), NO_COLOR (plain output), AIOPORTS_DEBUG=1 (tracebacks).
"""

# What -q prints where it is not "only the value".
_QUIET_OTHERWISE = {"probe": "nothing", "run": "no 'is up' line on stderr"}
_JSON = "one JSON document on stdout"
# What --json does where it is not _JSON; None: the command refuses it (cli/_mcp.py).
_JSON_OTHERWISE: dict[str, str | None] = {
    "run": "only a failure of run itself, as one JSON document",
    "mcp": None,
}
_HELP = "show this help"
_SEE_ALSO = "See also: aioports --help (every command), and docs/cli.md, the CLI reference."


def help_text(command: Command | None = None) -> str:
    """The help: of every command, or of ``command`` alone.

    :param command: the command whose help it is; None for the whole help
    """
    if command is not None:
        return _command_help(command)
    lines = [
        "usage: aioports COMMAND [ARGUMENTS] [OPTIONS]",
        "",
        "Hand out, track, probe and free TCP ports on this host.",
        "",
        "commands (a word, 'aioports allocate', or the seed's flag, 'aioports --allocate'):",
    ]
    for each in COMMANDS:
        usage = " ".join([each.name, *(arg_usage(a) for a in each.args)])
        if each.rest is not None:
            usage += f" -- {each.rest}"
        lines.append(_row(usage, each.help))
        if each.options:
            shown = " ".join(f"[{_usage(OPTIONS[name])}]" for name in each.options)
            lines.append(f"      {shown}")
    lines += ["", "options (each only with the commands that list it above):"]
    for option in OPTIONS.values():
        if not option.everywhere:
            lines.append(_row(_usage(option, short=True), option.help))
    lines += ["", "options for every command:"]
    for option in OPTIONS.values():
        if option.everywhere:
            lines.append(_row(_usage(option, short=True), option.help))
    json_otherwise = "; ".join(
        f"{name}: {'refused' if what is None else what}" for name, what in _JSON_OTHERWISE.items()
    )
    lines.append(_row("--json", f"{_JSON} ({json_otherwise})"))
    quiet = ", ".join(c.name for c in COMMANDS if c.quiet)
    otherwise = "; ".join(f"{name}: {what}" for name, what in _QUIET_OTHERWISE.items())
    lines.append(_row("-q, --quiet", f"print only the value ({quiet}; {otherwise})"))
    lines.append(_row("-h, --help", _HELP))
    lines += ["", "examples:"]
    lines += [f"  aioports {each.example}" for each in COMMANDS]
    return "\n".join(lines) + "\n\n" + _EPILOG


def _command_help(command: Command) -> str:
    """One command's help: usage, what it does, its arguments, its options and only those,
    the options of every command, its example, and where to read more."""
    lines = _usage_lines(command)
    lines += ["", *_fill(_sentence(command.help).split())]
    arguments = [_wrapped(arg_usage(a), _argument_help(a)) for a in command.args]
    if command.rest is not None:
        arguments.append(_wrapped(f"-- {command.rest}", ARGUMENT_HELP[command.rest]))
    if arguments:
        lines += ["", "arguments:", *(line for rows in arguments for line in rows)]
    own = [
        _wrapped(_usage(OPTIONS[n], short=True), _applying(OPTIONS[n], command))
        for n in command.options
    ]
    if command.quiet:
        what = _QUIET_OTHERWISE.get(command.name, "only the value")
        own.append(_wrapped("-q, --quiet", f"print {what}"))
    if own:
        lines += ["", "options:", *(line for rows in own for line in rows)]
        lines += [f"  {line}" for line in _needs(command)]
    lines += ["", "options for every command:"]
    for option in OPTIONS.values():
        if option.everywhere:
            lines += _wrapped(_usage(option, short=True), option.help)
    json_help = _JSON_OTHERWISE.get(command.name, _JSON)
    if json_help is not None:
        lines += _wrapped("--json", json_help)
    lines += _wrapped("-h, --help", _HELP)
    lines += ["", "example:", f"  aioports {command.example}", "", *_fill(_SEE_ALSO.split())]
    return "\n".join(lines) + "\n"


def _usage_lines(command: Command) -> list[str]:
    """``usage: aioports kill-port PORT... [--force] ...``, wrapped under the command word,
    then the flag form where the command has one."""
    head = f"usage: aioports {command.name}"
    units = [head, *(arg_usage(a) for a in command.args)]
    units += [f"[{_usage(OPTIONS[name])}]" for name in command.options]
    if command.quiet:
        units.append("[-q]")
    if command.rest is not None:
        units.append(f"-- {command.rest}")
    lines = _fill(units, indent=" " * (len(head) + 1))
    if command.flag is not None:  # whose value is the first argument (the parser's rule)
        shown = [arg_usage(a) for a in command.args]
        flag_form = " ".join([f"   or: aioports {command.flag}", *shown])
        lines.append(f"{flag_form} (the same options)" if command.options else flag_form)
    return lines


def _sentence(text: str) -> str:
    """A table help (``end the processes that hold PORT``) as a sentence."""
    text = text[:1].upper() + text[1:]
    return text if text.endswith(("?", ".", "!")) else f"{text}."


def _argument_help(arg: Arg) -> str:
    text = ARGUMENT_HELP[arg.metavar]
    if arg.many:
        return f"{text}; {'any number' if arg.optional else 'one or more'}"
    return f"{text}; optional" if arg.optional else text


def _applying(option: Option, command: Command) -> str:
    """The parts of ``option``'s help about ``command`` (see ``_table``'s docstring): a
    part led by command names (``kill-port: ...``) is about those commands only."""
    names = {each.name for each in COMMANDS}
    mine: list[str] = []
    general: list[str] = []
    for part in option.help.split("; "):
        label, colon, text = part.partition(": ")
        leads = [item.split(" ", 1) for item in label.split(", ")] if colon else []
        if not leads or not all(lead[0] in names for lead in leads):
            general.append(part)
            continue
        for lead in leads:
            if lead[0] == command.name:  # "dashboard --watch: ..." keeps its condition
                mine.append(f"with {lead[1]}: {text}" if len(lead) > 1 else text)
                break
    return "; ".join(mine or general) or option.help


def _needs(command: Command) -> list[str]:
    """``only with --watch: --interval``, one line per option that others need."""
    needed: dict[str, list[str]] = {}
    for name, other in command.needs:
        needed.setdefault(other, []).append(OPTIONS[name].flag)
    lines = []
    for other, flags in needed.items():
        units = [f"only with {OPTIONS[other].flag}:", *(f"{flag}," for flag in flags)]
        lines += _fill([*units[:-1], flags[-1]], width=WIDTH - 2)
    return lines


def arg_usage(arg: Arg) -> str:
    """How usage shows ``arg``: ``PORT...``, in brackets when it may be left out."""
    return f"[{arg.shown}]" if arg.optional else arg.shown


def _usage(option: Option, *, short: bool = False) -> str:
    names = f"{option.short}, {option.flag}" if short and option.short else option.flag
    return names if option.metavar is None else f"{names} {option.metavar}"


def _row(left: str, right: str) -> str:
    """A row of the whole help, on one line however long (the whole help is not wrapped)."""
    if len(left) > _LEFT:
        return f"  {left}\n  {'':{_LEFT}}  {right}"
    return f"  {left:<{_LEFT}}  {right}"


def _wrapped(left: str, right: str) -> list[str]:
    """A row of one command's help: ``right`` wrapped to :data:`WIDTH` beside ``left``, or
    below it when ``left`` is wider than its column."""
    body = _fill(right.split(), width=WIDTH - len(_INDENT))
    if len(left) > _LEFT:
        return [f"  {left}", *(f"{_INDENT}{line}" for line in body)]
    first, *more = body
    return [f"  {left:<{_LEFT}}  {first}", *(f"{_INDENT}{line}" for line in more)]


def _fill(units: list[str], *, width: int = WIDTH, indent: str = "") -> list[str]:
    """``units`` joined by spaces into lines of at most ``width`` columns (a unit longer than
    that stands alone), the lines after the first starting with ``indent``."""
    lines: list[str] = []
    line = ""
    for unit in units:
        if line and len(line) + 1 + len(unit) > width:
            lines.append(line)
            line = indent + unit
        else:
            line = f"{line} {unit}" if line else unit
    return [*lines, line]
