"""The command table drives the parser, the flag forms, the option scoping and the help:
checked in-process through ``main([...])``, and what each quick command imports."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest
from cli_helpers import validate

from aioports.cli import main
from aioports.cli._errors import UsageError
from aioports.cli._help import help_text
from aioports.cli._parse import parse
from aioports.cli._table import COMMANDS, OPTIONS, Command

SAMPLE = {
    "PORT": "3000", "N": "2", "ID": "1a2b3c4d5e6f", "START-END": "4000-4010", "NAME": "probe",
    "SERVICE": "web",
}  # fmt: skip


def _values(command: Command) -> list[str]:
    return [SAMPLE[arg.metavar] for arg in command.args]


def _rest(command: Command) -> list[str]:
    """The command line after ``--`` of a command that takes one (``run``)."""
    return [] if command.rest is None else ["--", "true"]


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "registry.json"
    for name in ("AIOPORTS_RANGE", "AIOPORTS_DEBUG", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AIOPORTS_REGISTRY", str(path))
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.name)
def test_the_word_and_the_seed_flag_are_one_command(command: Command) -> None:
    word = parse([command.name, *_values(command), *_rest(command)])
    assert word.command is command
    expected = zip((arg.name for arg in command.args), _values(command), strict=True)
    assert word.args == dict(expected)
    if command.flag is not None:
        flag = parse([command.flag, *_values(command), *_rest(command)])
        assert (flag.command, flag.args) == (word.command, word.args)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.name)
def test_each_command_takes_only_its_own_options(command: Command) -> None:
    for option in OPTIONS.values():
        if option.name in command.options or option.alone == command.name or option.everywhere:
            continue
        given = [option.flag] if option.metavar is None else [option.flag, "x"]
        with pytest.raises(UsageError, match=f"^{option.shown} only applies to "):
            parse([command.name, *_values(command), *given, *_rest(command)])


def test_options_may_come_before_the_command_word() -> None:
    parsed = parse(["--range", "4000-4999", "--app", "x", "allocate", "--json"])
    assert (parsed.command, parsed.options, parsed.json) == (
        COMMANDS[0], {"range": "4000-4999", "app": "x"}, True
    )  # fmt: skip
    assert parse(["--app=x", "--allocate"]).options == {"app": "x"}
    assert parse(["--range"]).command is parse(["range"]).command
    assert parse(["--range", "--json"]).command is parse(["range"]).command


def test_a_value_is_never_read_as_a_command() -> None:
    # Formerly "--release-group list" became "--release-group --list".
    parsed = parse(["--release-group", "list"])
    assert (parsed.command and parsed.command.name, parsed.args) == (
        "release-group", {"group_id": "list"}
    )  # fmt: skip
    assert parse(["--app", "list", "allocate"]).options == {"app": "list"}
    assert parse(["release-group", "probe"]).args == {"group_id": "probe"}


def test_release_group_named_like_a_command(
    capsys: pytest.CaptureFixture[str], registry: Path
) -> None:
    code, out, err = run(capsys, "--release-group", "list")
    assert (code, out, err) == (
        0, "aioports: No port group list is allocated; nothing to release.\n", ""
    )  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--allocate", "--list"], "argument --list: not allowed with argument --allocate"),
        (["allocate", "--probe", "1"], "argument --probe: not allowed with argument allocate"),
        (["--reserve", "1", "--force"], "--force with --reserve needs --kill"),
        (["probe"], "probe needs PORT: aioports probe PORT"),
        (["--probe", "--json"], "argument --probe: expected one argument"),
        (["--release-group", "1", "2"], "unrecognized arguments: 2"),
        (["--range", "1-2"], "needs a command such as --allocate"),
        (["--list", "--range"], "--range needs a value: --range START-END"),
    ],
)
def test_usage_errors(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse(argv)


def test_help_comes_from_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert (code, out) == (0, help_text())
    assert run(capsys, "help") == run(capsys) == (0, out, "")
    for command in COMMANDS:
        assert f"  aioports {command.example}\n" in out
        assert f"  {command.name}" in out
        if command.flag is not None:
            assert command.example.split()[0] == command.flag  # the seed's form
        assert parse(command.example.split()).command is command
    for option in OPTIONS.values():
        assert option.flag in out


def test_every_command_names_a_shipped_schema() -> None:
    folder = resources.files("aioports.cli").joinpath("schemas")
    for command in COMMANDS:
        assert folder.joinpath(f"{command.schema}.json").is_file(), command.name


@pytest.mark.parametrize("command", ["list", "probe", "range", "version", "dashboard"])
def test_json_matches_the_tables_schema(
    capsys: pytest.CaptureFixture[str], registry: Path, command: str
) -> None:
    spec = next(c for c in COMMANDS if c.name == command)
    code, out, err = run(capsys, command, *_values(spec), "--json")
    assert (code, err) == (0, "")
    validate(spec.schema, json.loads(out))


def _imported(code: str) -> set[str]:
    script = f"import sys\nfrom aioports.cli import main\n{code}\nprint(sorted(sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    return set(json.loads(done.stdout.splitlines()[-1].replace("'", '"')))


HEAVY = {"asyncio", "anyio", "aiofiles", "psutil", "argparse"}


def test_quick_commands_import_only_what_they_need(tmp_path: Path) -> None:
    registry = str(tmp_path / "registry.json")
    version = _imported("main(['--version'])")
    ours = {m for m in version if m.startswith("aioports")}
    assert ours == {"aioports", "aioports._version", "aioports.cli", "aioports.cli._main"}
    assert not {m.split(".")[0] for m in version} & (HEAVY | {"orjson", "dataclasses"})
    probe = _imported("main(['probe', '1', '--json'])")
    allocate = _imported(
        f"import os; os.environ['AIOPORTS_REGISTRY'] = {registry!r}\n"
        "main(['allocate', '--json', '--range', '40000-40100', '--app', 'x'])"
    )
    for modules in (probe, allocate):
        assert not {m.split(".")[0] for m in modules} & HEAVY
    # One command's help reads the table: no handler's module, nothing heavy.
    helped = _imported("main(['kill-port', '--help'])")
    assert {m for m in helped if m.startswith("aioports")} == ours | {
        f"aioports.cli.{name}" for name in ("_commands", "_errors", "_help", "_parse", "_table")
    }
    assert not {m.split(".")[0] for m in helped} & (HEAVY | {"orjson", "dataclasses"})
