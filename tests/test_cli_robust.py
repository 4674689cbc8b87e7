"""The real ``aioports`` executable where its surroundings go wrong: a locale that cannot
encode the output, a full or closed stdout, a broken default range, an unusable registry
folder, and hostile text in the registry."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from cli_helpers import EXECUTABLE, Cli, as_nobody, validate
from helpers import free_block, free_port

ASCII_LOCALE = {"LC_ALL": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0"}
needs_root = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to become nobody"
)


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    start = free_block(6)
    return Cli(tmp_path / "state" / "registry.json", range=f"{start}-{start + 5}")


def test_output_the_locale_cannot_encode_never_fails(cli: Cli) -> None:
    app = "caf\N{LATIN SMALL LETTER E WITH ACUTE}\N{HOT BEVERAGE}"
    allocated = cli("--allocate", "--app", app, "--json", env={"PYTHONIOENCODING": "ascii"})
    listed, bad_json, bad_human = cli.many(
        # In the "C" locale the argument itself is undecodable: it reaches aioports escaped.
        [["--list"], ["--probe", app, "--json"], ["--probe", app]],
        env=ASCII_LOCALE,
    )
    # JSON is UTF-8 whatever the locale says: the app name comes back intact.
    assert allocated.code == 0, allocated.err
    assert allocated.json()["metadata"] == {"app": app}
    assert listed.code == 0, listed.err
    assert "caf\\xe9\\u2615" in listed.out  # people get an escape, never a traceback
    assert bad_json.code == 2
    validate("error", bad_json.json())
    assert bad_json.json()["error"]["type"] == "InvalidPortError"
    assert bad_human.code == 2
    assert bad_human.err.startswith("aioports: error: invalid port ")
    assert bad_human.err.count("\n") == 1


def test_a_failed_write_to_stdout_is_one_line_on_stderr(cli: Cli) -> None:
    cli("--allocate")
    with open("/dev/full", "w") as full:
        proc = cli.popen("--list", stdout=full)
        _, err = proc.communicate(timeout=60)
    assert (proc.returncode, err) == (
        1, "aioports: error: cannot write to standard output: No space left on device\n"
    )  # fmt: skip
    for args in (["--version"], ["--list", "--json"]):
        closed = subprocess.run(
            ["sh", "-c", 'exec "$@" >&-', "sh", EXECUTABLE, *args],
            capture_output=True, text=True, env=cli.env(), timeout=60, check=False,
        )  # fmt: skip
        assert (closed.returncode, closed.stderr) == (
            1, "aioports: error: standard output is closed\n"
        ), args  # fmt: skip


def test_a_broken_default_range_blocks_only_the_commands_that_use_it(
    cli: Cli, tmp_path: Path
) -> None:
    config = cli.registry.with_name("config.json")
    config.parent.mkdir(parents=True)
    config.write_text("[1, 2")
    own = Cli(cli.registry)  # no $AIOPORTS_RANGE: the settings file decides
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
        assert done.code == 0, (args, done)
    for args in (["--allocate"], ["--range"]):
        failed = own(*args, "--json")
        assert failed.code == 1, (args, failed)
        assert str(config) in failed.json()["error"]["message"]
    fixed = own.json("range", "--set-range", span)  # the fix the message suggests works
    assert fixed["range"] == json.loads(config.read_text())["range"]
    assert own.json("allocated", "--allocate")["port"] == int(span.split("-")[0]) + 1

    env = {"AIOPORTS_RANGE": "5000-4000"}
    assert own("--list", env=env).code == 0
    assert own("--allocate", "--range", span, env=env).code == 0
    bad = own("--allocate", env=env)
    assert bad.code == 1
    assert bad.err.startswith("aioports: error: $AIOPORTS_RANGE: invalid port range '5000-4000'")
    noted = own("--set-range", span, env=env)
    assert noted.code == 0, noted.err
    assert "AIOPORTS_RANGE is set" in noted.err


def test_an_unusable_registry_folder_is_not_called_a_settings_file(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    cli = Cli(blocker / "registry.json")
    done = cli("--allocate")
    assert done.code == 1
    assert f"the registry folder {blocker} is not a directory" in done.err
    assert "settings file" not in done.err


@needs_root
def test_an_unreadable_registry_folder_is_named(cli: Cli) -> None:
    cli.registry.parent.mkdir(mode=0o700)  # nobody may not enter it
    done = as_nobody(Cli(cli.registry), "--allocate")
    assert done.code == 1
    assert "cannot use the registry folder" in done.err, done.err
    assert "settings file" not in done.err


CONTROL = "evil\x1b[2J\nforged line\x07"


def test_control_characters_are_escaped_for_people_only(cli: Cli) -> None:
    cli("--allocate", "--app", CONTROL, "--worktree", "w\rt", "--service", "s\tv")
    listed, board, document = cli.many([["--list"], ["--dashboard"], ["--list", "--json"]])
    escaped = "evil\\x1b[2J\\nforged line\\x07"
    assert escaped in listed.out
    assert f"App: {escaped}" in board.out
    assert "Worktree: w\\rt" in board.out
    assert "s\\tv" in listed.out
    assert "s\\tv" in board.out
    for text in (listed.out, board.out):
        assert not any(c in text for c in "\x1b\r\t\x07")
        assert "forged line" not in text.replace(escaped, "")
    assert document.json()[0]["metadata"] == {"app": CONTROL, "worktree": "w\rt", "service": "s\tv"}


def test_dashboard_json_says_null_where_people_see_placeholders(cli: Cli) -> None:
    port = cli.json("allocated", "--allocate")["port"]
    rows = cli.json("dashboard", "--dashboard")
    assert [(r["app"], r["worktree"], r["name"], r["port"]) for r in rows] == [
        (None, None, None, port)
    ]
    human = cli("--dashboard").out.splitlines()
    assert human[3:6] == [
        "App: (no app)",
        "  Worktree: (no worktree)",
        f"     -  {port:<5}  [FREE]",
    ]
