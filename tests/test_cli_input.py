"""Bad input to the ``aioports`` command line: exit 2 (or 1), a clean message, no traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cli_helpers import CliRunner, validate

BAD_PORTS = ("0", "-1", "70000", "abc", "3_000", "")
BAD_RANGES = ("5000-4000", "10-", "", "0-10", "1-70000", "abc", "4000")


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    return CliRunner(monkeypatch, tmp_path / "registry.json", range="41000-41010")


@pytest.mark.parametrize("json_mode", [False, True], ids=["human", "json"])
def test_bad_ports_exit_2(cli: CliRunner, json_mode: bool) -> None:
    runs = [[command, port] for command in ("--probe", "--detect") for port in BAD_PORTS]
    runs += [["--release", "0"], ["--kill-port", "70000"], ["--reserve", "abc"], ["probe", "-1"]]
    suffix = ["--json"] if json_mode else []
    for args, done in zip(runs, cli.many([run + suffix for run in runs]), strict=True):
        assert done.exit_code == 2, (args, done)
        if json_mode:
            document = done.json()
            validate("error", document)
            assert document["error"]["type"] == "InvalidPortError", (args, document)
            assert "1 to 65535" in document["error"]["message"]
            assert done.stderr == ""
        else:
            assert done.stdout == ""
            assert done.stderr.startswith("aioports: error: invalid port "), (args, done.stderr)
    assert not cli.registry.exists()


@pytest.mark.parametrize("json_mode", [False, True], ids=["human", "json"])
def test_bad_ranges_exit_2(cli: CliRunner, json_mode: bool) -> None:
    runs = [["--allocate", "--range", span] for span in BAD_RANGES]
    runs += [["--allocate-group", "2", "--range", "9-1"], ["--set-range", "9-1"],
             ["--scan", "0-10"], ["scan", "abc"]]  # fmt: skip
    suffix = ["--json"] if json_mode else []
    for args, done in zip(runs, cli.many([run + suffix for run in runs]), strict=True):
        assert done.exit_code == 2, (args, done)
        if json_mode:
            error = done.json()["error"]
            assert error["type"] == "InvalidRangeError", (args, error)
        else:
            assert "invalid port range" in done.stderr, (args, done.stderr)
    assert not cli.registry.exists()
    assert not Path(os.environ["AIOPORTS_CONFIG"]).exists()


USAGE = [
    (["--allocate-group", "0"], "--allocate-group must be a positive whole number"),
    (["--allocate-group", "-1"], "--allocate-group must be a positive whole number"),
    (["--allocate-group", "abc"], "--allocate-group must be a positive whole number"),
    (["--allocate-group", "3", "--roles", "a,b"], "3 ports need 3 roles"),
    (["--allocate-group", "2", "--roles", "a,a"], "roles must be distinct"),
    (["--allocate", "--owner-pid", "0"], "--owner-pid must be a positive whole number"),
    (["--allocate", "--list"], "not allowed with argument"),
    (["--probe", "3000", "--app", "x"], "--app only applies to"),
    (["--probe", "3000", "--kill"], "--kill only applies to --reserve"),
    (["--reserve", "3000", "--force"], "--force with --reserve needs --kill"),
    (["--list", "--range", "4000-4999"], "--range START-END only applies to"),
    (["--range", "4000-4999"], "to change the default range use --set-range"),
    (["--bogus"], "unrecognized arguments: --bogus"),
    (["bogus"], "unrecognized arguments: bogus"),
    (["--app", "x"], "no command given"),
    (["--probe"], "expected one argument"),
]


def test_usage_errors_exit_2(cli: CliRunner) -> None:
    for (args, expected), done in zip(USAGE, cli.many([args for args, _ in USAGE]), strict=True):
        assert done.exit_code == 2, (args, done)
        assert expected in done.stderr, (args, done.stderr)
        assert done.stdout == ""
        assert done.stderr.startswith("aioports: error: "), (args, done.stderr)  # one line only
        assert done.stderr.count("\n") == 1, (args, done.stderr)
    # The same errors as JSON documents on stdout (one code path: a sample suffices).
    sample = USAGE[::4]
    for (args, expected), done in zip(
        sample, cli.many([[*args, "--json"] for args, _ in sample]), strict=True
    ):
        assert done.exit_code == 2, (args, done)
        document = done.json()
        validate("error", document)
        assert expected in document["error"]["message"], (args, document)
        assert document["error"]["type"] in ("UsageError", "InvalidArgumentError")
    assert not cli.registry.exists()


def test_failures_exit_1(cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gone = CliRunner(monkeypatch, tmp_path / "other.json", range="41000-41000")
    gone("--allocate")
    full, dead_owner = gone.many(
        [["--allocate", "--json"], ["--allocate", "--owner-pid", "4194303"]]
    )
    assert full.exit_code == 1
    error = full.json()["error"]
    assert error["type"] == "NoFreePortError"
    assert error["range"] == {"start": 41000, "end": 41000}
    assert dead_owner.exit_code == 2  # a usage error: the PID given names no process
    assert dead_owner.stderr == "aioports: error: --owner-pid 4194303: no such process\n"


# The role list itself is checked by the library (``role_names``), in its words.
LIBRARY_USAGE = [
    (["--allocate-group", "2", "--roles", "a,a"], "roles must be distinct, got a, a"),
    (["--allocate-group", "3", "--roles", "a,b"], "3 ports need 3 roles, got 2: a, b"),
]
CLEAN_USAGE = [
    (
        ["--allocate-group", "2", "--roles", ""],
        "--roles needs one non-empty name per port, separated by commas",
    ),
    (
        ["--allocate-group", "2", "--roles", "a,"],
        "--roles needs one non-empty name per port, separated by commas",
    ),
    (["--allocate", "--range"], "--range needs a value: --range START-END (such as 4000-4999)"),
    (["--range", "--allocate"], "--range needs a value: --range START-END (such as 4000-4999)"),
    (["--release-group", ""], "--release-group needs a group id"),
    (["--release-group", "  "], "--release-group needs a group id"),
    (["--allocate", "--owner-pid", "4194303"], "--owner-pid 4194303: no such process"),
    (["--allocate-group", "2", "--owner-pid", "4194303"], "--owner-pid 4194303: no such process"),
    (["--bogus"], "unrecognized arguments: --bogus (see 'aioports --help')"),
]


def test_usage_errors_are_clean_usage_errors(cli: CliRunner) -> None:
    cases = [(args, expected, "UsageError") for args, expected in CLEAN_USAGE]
    cases += [(args, expected, "InvalidArgumentError") for args, expected in LIBRARY_USAGE]
    runs = [[*args, "--json"] for args, _, _ in cases]
    for (args, expected, kind), done in zip(cases, cli.many(runs), strict=True):
        assert done.exit_code == 2, (args, done)
        document = done.json()
        validate("error", document)
        error = document["error"]
        assert (error["type"], error["message"][: len(expected)]) == (kind, expected)
        assert "[" not in error["message"]  # no Python list reprs
    assert not cli.registry.exists()


def test_ports_are_ascii_digits_with_optional_spaces(cli: CliRunner) -> None:
    good = [" 80", "080", "80 ", "\t443"]
    bad = ["+80", "8 0", "\N{ARABIC-INDIC DIGIT EIGHT}0"]
    runs = [["--probe", port, "--json"] for port in good + bad]
    for port, done in zip(good + bad, cli.many(runs), strict=True):
        if port in good:
            assert done.exit_code == 0, (port, done)
            assert done.json()["port"] == int(port)
        else:
            assert done.exit_code == 2, (port, done)
            assert done.json()["error"]["type"] == "InvalidPortError"


def test_empty_metadata_counts_as_not_given(cli: CliRunner) -> None:
    listed = cli("--list", "--app", "", "--json")
    assert (listed.exit_code, listed.json()) == (0, [])
    document = cli.json("allocated", "--allocate", "--app", "", "--worktree", "wt", "--service", "")
    assert document["metadata"] == {"worktree": "wt"}
