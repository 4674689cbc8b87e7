"""One command's help (``aioports COMMAND --help``, ``-h``, ``aioports help COMMAND``, the flag
form ``aioports --probe --help``), generated from the command table: in-process through
``main([...])``, and one real ``run`` whose command gets the ``--help`` after ``--``."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from cli_helpers import CliRunner, Executable, validate
from helpers import free_block

from aioports.cli._help import WIDTH, help_text
from aioports.cli._parse import parse
from aioports.cli._table import COMMANDS, OPTIONS, Command, by_name

UNKNOWN = "aioports: error: unrecognized arguments: nosuch (see 'aioports --help')\n"
# A row of a section: "  --timeout S   ...", "  -y, --yes   ..."; the long flag is the group.
ROW = re.compile(r"^  (?:-\w, )?(--[a-z][a-z-]*)")


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    return CliRunner(monkeypatch, tmp_path / "registry.json")


def forms(command: Command) -> list[list[str]]:
    """Every way to ask for ``command``'s help."""
    asked = [[command.name, "--help"], [command.name, "-h"], ["help", command.name]]
    if command.flag is not None:  # the flag form, whose value would be the first argument
        asked += [[command.flag, "--help"], [command.flag, "-h"]]
    return asked


def section(text: str, title: str) -> list[str]:
    """The long flags of the rows under ``title:``, in order."""
    lines = text.splitlines()
    if f"{title}:" not in lines:
        return []
    rows = lines[lines.index(f"{title}:") + 1 :]
    rows = rows[: rows.index("")] if "" in rows else rows
    return [match[1] for match in map(ROW.match, rows) if match]


def own_flags(command: Command) -> list[str]:
    """What the table says ``command`` takes, in its order, ``-q`` where it applies."""
    return [OPTIONS[name].flag for name in command.options] + (["--quiet"] * command.quiet)


EVERY_COMMAND = [o.flag for o in OPTIONS.values() if o.everywhere] + ["--json", "--help"]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.name)
def test_every_form_prints_the_commands_own_help(cli: CliRunner, command: Command) -> None:
    expected = help_text(command)
    assert expected != help_text()
    assert expected.startswith(f"usage: aioports {command.name}")
    for args in forms(command):
        done = cli(*args)
        assert (done.exit_code, done.stdout, done.stderr) == (0, expected, ""), args


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.name)
def test_help_names_exactly_the_commands_own_options(command: Command) -> None:
    text = help_text(command)
    assert section(text, "options") == own_flags(command)
    # mcp refuses --json (it speaks JSON-RPC on stdout), so its help leaves it out.
    every = [flag for flag in EVERY_COMMAND if not (command.name == "mcp" and flag == "--json")]
    assert section(text, "options for every command") == every
    # No other command's option anywhere, in prose or examples either.
    allowed = {*own_flags(command), *EVERY_COMMAND, command.flag}
    assert set(re.findall(r"--[a-z][a-z-]*", text)) <= allowed
    for arg in command.args:
        assert f"\n  {arg.shown if not arg.optional else f'[{arg.shown}]'} " in text
    assert f"\n  aioports {command.example}\n" in text
    assert text.endswith("aioports --help (every command), and docs/cli.md, the CLI reference.\n")


def test_run_says_what_quiet_json_and_the_named_options_do_for_it() -> None:
    text = " ".join(help_text(by_name("run")).split())
    assert "-q, --quiet print no 'is up' line on stderr" in text
    assert "--json only a failure of run itself, as one JSON document" in text
    assert "--range START-END the range a new named port comes from; with --once: that" in text
    assert "--app APP the app the named port is for (default: this project's name)" in text
    assert "list, release, clean up" not in text
    assert "alone, show the default range" not in text


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.name)
def test_help_fits_80_columns(command: Command) -> None:
    assert WIDTH == 80
    for line in help_text(command).splitlines():
        assert len(line) <= WIDTH, line
        assert line == line.rstrip(), line


KILL_PORT = """\
usage: aioports kill-port PORT... [--force] [--allow-other-users] [--timeout S]
                          [--dry-run]
   or: aioports --kill-port PORT... (the same options)

End the processes that hold PORT.

arguments:
  PORT...                   a TCP port, 1-65535; one or more

options:
  --force                   kill with SIGKILL, not SIGTERM
  --allow-other-users       as root, also end another user's process
  --timeout S               send SIGTERM, wait up to S seconds for the port to
                            be free, then SIGKILL
  --dry-run                 show who would be signalled, and change nothing

options for every command:
  --registry PATH           the registry file (instead of $AIOPORTS_REGISTRY)
  --lock-timeout S          seconds to wait for another process's hold on the
                            registry (default 10)
  --json                    one JSON document on stdout
  -h, --help                show this help

example:
  aioports --kill-port 3000 --force

See also: aioports --help (every command), and docs/cli.md, the CLI reference.
"""


def test_kill_port_help_as_written(cli: CliRunner) -> None:
    assert cli("kill-port", "--help").stdout == KILL_PORT


def test_an_option_shared_by_commands_shows_each_its_own_part(cli: CliRunner) -> None:
    wait = cli("help", "wait").stdout
    assert wait.startswith(
        "usage: aioports wait PORT [--free] [--timeout S] [--interval S] [--pid PID]\n\n"
        "Wait until a server listens on PORT (--free: until one could start there).\n"
    )
    assert (
        "options:\n"
        "  --free                    until a server could start on the port\n"
        "  --timeout S               give up after S seconds (default 60)\n"
        "  --interval S              look every S seconds (default 0.1)\n"
        "  --pid PID                 the listener must be PID or a descendant\n\n"
    ) in wait
    assert "   or:" not in wait  # no flag form
    dashboard = cli("dashboard", "-h").stdout
    assert "  --interval S              with --watch: seconds between redraws (default 1)\n" in (
        dashboard
    )
    assert "  only with --watch: --interval\n" in dashboard
    # repair's --force is not the kill's; reserve's --timeout and --dry-run go with --kill.
    assert (
        "  --force                   also move what is no registry\n" in cli("repair", "-h").stdout
    )
    reserve = cli("reserve", "-h").stdout
    assert "\n  --timeout S               with --kill: send SIGTERM, wait up to S" in reserve
    assert "\n  --dry-run                 with --kill: show who would be signalled" in reserve
    assert "prune" not in reserve
    assert "  --dry-run                 show what would be removed, and change nothing\n" in (
        cli("prune", "-h").stdout
    )


def test_the_whole_help_is_unchanged(cli: CliRunner) -> None:
    runs = cli.many([["--help"], ["-h"], ["help"], [], ["--help", "--json"], ["help", "--help"]])
    for done in runs:
        assert (done.exit_code, done.stdout, done.stderr) == (0, help_text(), "")
    assert help_text(None) == help_text()
    assert help_text().startswith("usage: aioports COMMAND [ARGUMENTS] [OPTIONS]\n")


def test_json_with_help_still_prints_the_help_text(cli: CliRunner) -> None:
    for args in (["kill-port", "--help", "--json"], ["--json", "help", "kill-port"]):
        done = cli(*args)
        assert (done.exit_code, done.stdout, done.stderr) == (0, KILL_PORT, "")


def test_help_is_asked_even_with_what_the_command_would_refuse(cli: CliRunner) -> None:
    # Help runs nothing: options the command does not take, missing or extra values.
    for args in (["kill-port", "--app", "x", "--help"], ["probe", "-h"], ["help", "probe", "1"]):
        assert cli(*args).stdout == help_text(by_name(args[0] if args[0] != "help" else "probe"))
    assert cli("--range", "--help").stdout == help_text(by_name("range"))
    assert cli("--range", "4000-4999", "--help").stdout == help_text()  # a value: no command


@pytest.mark.parametrize(
    "args", [["help", "nosuch"], ["nosuch", "--help"], ["nosuch", "-h"], ["nosuch"]]
)
def test_help_of_an_unknown_command_is_the_usage_error(cli: CliRunner, args: list[str]) -> None:
    done = cli(*args)
    assert (done.exit_code, done.stdout, done.stderr) == (2, "", UNKNOWN)
    document = cli(*args, "--json").json()
    validate("error", document)
    assert document["error"] == {
        "type": "UsageError",
        "message": UNKNOWN[len("aioports: error: ") : -1],
    }


def test_help_after_dashdash_belongs_to_runs_command() -> None:
    parsed = parse(["run", "--once", "--", "tool", "--help", "-h"])
    assert (parsed.help, parsed.rest) == (False, ("tool", "--help", "-h"))
    asked = parse(["run", "--help", "--", "tool"])
    assert (asked.help, asked.command) == (True, by_name("run"))


def test_run_passes_help_to_its_command(registry_path: Path) -> None:
    start = free_block(4)
    cli = Executable(registry_path, range=f"{start}-{start + 3}")
    script = "import sys; print(sys.argv[1:])"
    done = cli("run", "--once", "--", sys.executable, "-c", script, "--help", "-h")
    assert (done.exit_code, done.stdout, done.stderr) == (0, "['--help', '-h']\n", "")
