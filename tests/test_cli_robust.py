"""The ``aioports`` command line where its surroundings go wrong: a locale that cannot encode
the output, a full or closed stdout (those through the real executable), a broken default
range, an unusable registry folder, and hostile text in the registry."""

from __future__ import annotations

import os
import subprocess
import tomllib
from pathlib import Path

import pytest
from cli_helpers import EXECUTABLE, CliRunner, Executable, as_nobody, validate
from helpers import free_block, free_port
from processes import reap

from aioports import PortRange

ASCII_LOCALE = {"LC_ALL": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0"}
needs_root = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to become nobody"
)


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    start = free_block(6)
    return CliRunner(
        monkeypatch, tmp_path / "state" / "registry.json", range=f"{start}-{start + 5}"
    )


@pytest.fixture
def exe(cli: CliRunner) -> Executable:
    """The real executable, on the same registry and range as ``cli``."""
    return Executable(cli.registry, cli.range)


def test_output_the_locale_cannot_encode_never_fails(exe: Executable) -> None:
    app = "caf\N{LATIN SMALL LETTER E WITH ACUTE}\N{HOT BEVERAGE}"
    allocated = exe("--allocate", "--app", app, "--json", env={"PYTHONIOENCODING": "ascii"})
    listed, bad_json, bad_human = exe.many(
        # In the "C" locale the argument itself is undecodable: it reaches aioports escaped.
        [["--list"], ["--probe", app, "--json"], ["--probe", app]],
        env=ASCII_LOCALE,
    )
    # JSON is UTF-8 whatever the locale says: the app name comes back intact.
    assert allocated.exit_code == 0, allocated.stderr
    assert allocated.json()["metadata"] == {"app": app}
    assert listed.exit_code == 0, listed.stderr
    assert "caf\\xe9\\u2615" in listed.stdout  # people get an escape, never a traceback
    assert bad_json.exit_code == 2
    validate("error", bad_json.json())
    assert bad_json.json()["error"]["type"] == "InvalidPortError"
    assert bad_human.exit_code == 2
    assert bad_human.stderr.startswith("aioports: error: invalid port ")
    assert bad_human.stderr.count("\n") == 1


def test_a_failed_write_to_stdout_is_one_line_on_stderr(cli: CliRunner, exe: Executable) -> None:
    cli("--allocate")
    # All three at once: a full stdout, and two runs started with stdout closed.
    with open("/dev/full", "w") as full:
        proc = exe.popen("--list", stdout=full)
    closed_runs = [
        (
            args,
            subprocess.Popen(
                ["sh", "-c", 'exec "$@" >&-', "sh", EXECUTABLE, *args],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=exe.env(),
            ),
        )
        for args in (["--version"], ["--list", "--json"])
    ]
    try:
        _, err = proc.communicate(timeout=60)
        assert (proc.returncode, err) == (
            1, "aioports: error: cannot write to standard output: No space left on device\n"
        )  # fmt: skip
        for args, closed in closed_runs:
            _, closed_err = closed.communicate(timeout=60)
            assert (closed.returncode, closed_err) == (
                1, "aioports: error: standard output is closed\n"
            ), args  # fmt: skip
    finally:
        for run in (proc, *(closed for _, closed in closed_runs)):
            reap(run)


def test_a_broken_default_range_blocks_only_the_commands_that_use_it(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, private_settings: Path
) -> None:
    config = private_settings
    config.parent.mkdir(parents=True)
    config.write_text("[1, 2")
    own = CliRunner(monkeypatch, cli.registry)  # no $AIOPORTS_RANGE: the settings file decides
    free = str(free_port())
    span = cli.range
    assert span is not None
    independent = [
        ["--list"], ["--probe", free], ["--release", free], ["--dashboard"], ["--repair"],
        ["--detect", free], ["--kill-port", free], ["--scan", span], ["--reserve", free],
        ["--release", free], ["--allocate", "--range", span],
    ]  # fmt: skip
    for args in independent:  # one by one: --reserve and --release share a port
        done = own(*args, "--json")
        assert done.exit_code == 0, (args, done)
    for args in (["--allocate"], ["--range"]):
        failed = own(*args, "--json")
        assert failed.exit_code == 1, (args, failed)
        assert str(config) in failed.json()["error"]["message"]
    fixed = own.json("range", "--set-range", span)  # the fix the message suggests works
    assert fixed["range"] == PortRange.parse(tomllib.loads(config.read_text())["range"]).to_dict()
    assert own.json("allocated", "--allocate")["port"] == int(span.split("-")[0]) + 1

    env = {"AIOPORTS_RANGE": "5000-4000"}
    assert own("--list", env=env).exit_code == 0
    assert own("--allocate", "--range", span, env=env).exit_code == 0
    bad = own("--allocate", env=env)
    assert bad.exit_code == 1
    assert bad.stderr.startswith("aioports: error: $AIOPORTS_RANGE: invalid port range '5000-4000'")
    noted = own("--set-range", span, env=env)
    assert noted.exit_code == 0, noted.stderr
    assert "AIOPORTS_RANGE is set" in noted.stderr


def test_an_unusable_registry_folder_is_not_called_a_settings_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    cli = CliRunner(monkeypatch, blocker / "registry.json")
    done = cli("--allocate")
    assert done.exit_code == 1
    assert f"the registry folder {blocker}: a file is in its way" in done.stderr
    assert "settings file" not in done.stderr


@needs_root
def test_an_unreadable_registry_folder_is_named(cli: CliRunner) -> None:
    cli.registry.parent.mkdir(mode=0o700)  # nobody may not enter it
    done = as_nobody(cli.registry, "--allocate")
    assert done.exit_code == 1
    assert "cannot use the registry folder" in done.stderr, done.stderr
    assert "settings file" not in done.stderr


CONTROL = "evil\x1b[2J\nforged line\x07"


def test_control_characters_are_escaped_for_people_only(cli: CliRunner) -> None:
    cli("--allocate", "--app", CONTROL, "--worktree", "w\rt", "--service", "s\tv")
    listed, board, document = cli.many([["--list"], ["--dashboard"], ["--list", "--json"]])
    escaped = "evil\\x1b[2J\\nforged line\\x07"
    assert escaped in listed.stdout
    assert f"App: {escaped}" in board.stdout
    assert "Worktree: w\\rt" in board.stdout
    assert "s\\tv" in listed.stdout
    assert "s\\tv" in board.stdout
    for text in (listed.stdout, board.stdout):
        assert not any(c in text for c in "\x1b\r\t\x07")
        assert "forged line" not in text.replace(escaped, "")
    assert document.json()[0]["metadata"] == {"app": CONTROL, "worktree": "w\rt", "service": "s\tv"}


def test_dashboard_json_says_null_where_people_see_placeholders(cli: CliRunner) -> None:
    port = cli.json("allocated", "--allocate")["port"]
    rows = cli.json("dashboard", "--dashboard")
    assert [(r["app"], r["worktree"], r["name"], r["port"]) for r in rows] == [
        (None, None, None, port)
    ]
    human = cli("--dashboard").stdout.splitlines()
    assert human[3:6] == [
        "App: (no app)",
        "  Worktree: (no worktree)",
        f"     -  {port:<5}  [FREE]",
    ]
