"""The command line as shell scripts and agents use it: ``-q``, probe's exit codes, several
ports per command, repeated flags, ``kill-port --timeout`` and ``--dry-run``, compact JSON,
hints, ``schema``, the global ``--registry`` and ``--lock-timeout``, and every holder of a
port in ``detect``. In-process through ``main()``, against real listeners on loopback."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cli_helpers import CliRunner, Stream, as_nobody, schemas, validate
from helpers import free_block
from processes import FORKED, POLITE, STUBBORN, alive, registry_locked_elsewhere, spawn

BLOCK = 8
ON_A_TERMINAL: tuple[Stream, ...] = ("stdout",)
NOBODY = 65534
needs_root = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to switch users"
)


@pytest.fixture
def block() -> int:
    return free_block(BLOCK)


@pytest.fixture
def cli(tmp_path: Path, block: int, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    return CliRunner(monkeypatch, tmp_path / "state" / "registry.json", f"{block}-{block + 7}")


# -- -q: only the value -------------------------------------------------------------------


def test_quiet_prints_only_the_value(cli: CliRunner, block: int) -> None:
    assert cli("allocate", "-q", "--app", "shop").stdout == f"{block}\n"
    group = cli("allocate-group", "2", "--roles", "web,api", "--quiet")
    assert (group.exit_code, group.stdout) == (0, f"web={block + 1}\napi={block + 2}\n")
    assert cli("range", "-q").stdout == f"{block}-{block + 7}\n"
    assert cli("probe", "-q", str(block + 3)).stdout == ""
    with spawn(FORKED) as server:
        pids = cli("detect", "-q", str(server.port)).stdout.split()
    assert {int(pid) for pid in pids} == server.pids


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["list", "-q"], "-q/--quiet only applies to allocate, "),
        (["release", "3000", "-q"], "release has no single value to print"),
    ],
)
def test_quiet_without_a_single_value_is_a_usage_error(
    cli: CliRunner, argv: list[str], message: str
) -> None:
    done = cli(*argv)
    assert (done.exit_code, done.stdout) == (2, "")
    assert message in done.stderr
    assert len(done.stderr.splitlines()) == 1
    both = cli.json("error", "allocate", "-q", code=2)["error"]  # cli.json adds --json
    assert both["message"].startswith("-q/--quiet and --json exclude each other")
    assert cli.json("list", "list") == []  # nothing changed


# -- probe's exit codes -------------------------------------------------------------------


def test_probe_exit_codes_answer_the_question(cli: CliRunner, block: int) -> None:
    assert cli("probe", "-q", str(block)).exit_code == 0
    with spawn(POLITE, "::1") as server:
        port = str(server.port)
        assert cli("probe", "-q", port).exit_code == 3
        document = cli.json("probe", "probe", port, code=3)  # the same shape as ever
        assert set(document) == {"status", "port", "in_use", "message"}
        assert cli("probe", str(block), port).exit_code == 3  # any in use: 3


@needs_root
def test_probe_of_a_privileged_port_exits_4(cli: CliRunner) -> None:
    done = as_nobody(cli.registry, "probe", "80", "--json")
    assert done.exit_code == 4, done.stderr
    validate("probe", json.loads(done.stdout))
    assert json.loads(done.stdout)["status"] == "denied"


def test_exit_codes_are_in_the_help(cli: CliRunner) -> None:
    assert "3 probe: in use, 4 probe: denied" in cli("--help").stdout


# -- several ports, repeated flags --------------------------------------------------------


def test_release_several_ports_as_words_and_as_repeated_flags(cli: CliRunner, block: int) -> None:
    cli.many([["allocate"], ["allocate"], ["allocate"]])
    words = cli.json("released", "release", str(block), str(block + 1), str(block + 5))
    assert words["status"] == "mixed"
    assert [(r["port"], r["status"]) for r in words["results"]] == [
        (block, "released"), (block + 1, "released"), (block + 5, "not_allocated")
    ]  # fmt: skip
    flags = cli.json("released", "--release", str(block + 2), "--release", str(block + 2))
    assert (flags["status"], flags["port"]) == ("released", block + 2)  # one port: as ever
    assert cli.json("list", "list") == []


def test_the_release_flag_stands_alone_before_the_options_that_pick(
    cli: CliRunner, block: int
) -> None:
    """``--release --app A``, as docs/cli.md documents the seed's form: the flag takes no port
    when an option follows it (its PORT... may be left out, as ``release``'s may)."""
    cli.many([["allocate", "--app", "shop"], ["allocate", "--app", "blog"]])
    released = cli.json("released", "--release", "--app", "shop")
    assert (released["status"], released["ports"]) == ("released", [block])
    assert [a["port"] for a in cli.json("list", "list")] == [block + 1]
    alone = cli("--release")
    assert (alone.exit_code, alone.stdout) == (2, "")
    assert alone.stderr == (
        "aioports: error: release needs PORT... or --app/--worktree/--service: "
        "aioports release PORT...\n"
    )
    # A value that is no port is still the flag's value, and an error.
    assert cli("--release", "shop").exit_code == 2
    assert [a["port"] for a in cli.json("list", "list")] == [block + 1]


def test_one_bad_port_changes_nothing(cli: CliRunner, block: int) -> None:
    cli("allocate")
    done = cli("--release", str(block), "--release", "abc")
    assert done.exit_code == 2
    assert "invalid port 'abc'" in done.stderr
    assert [a["port"] for a in cli.json("list", "list")] == [block]


@pytest.mark.parametrize(
    "argv",
    [
        ["allocate", "--app", "a", "--app", "b"],
        ["--allocate", "--range", "1-2", "--range=3-4"],
        ["--allocate-group", "2", "--allocate-group", "3"],
        ["--kill-port", "1", "--timeout", "1", "--timeout", "2"],
    ],
)
def test_a_repeated_flag_never_silently_keeps_the_last(cli: CliRunner, argv: list[str]) -> None:
    done = cli(*argv, "--json")
    assert done.exit_code == 2
    validate("error", done.json())
    assert done.json()["error"]["type"] == "UsageError"
    assert cli.json("list", "list") == []


def test_probe_and_detect_several_ports(cli: CliRunner, block: int) -> None:
    with spawn(POLITE) as one, spawn(POLITE, "::1") as two:
        probed = cli.json("probe", "--probe", str(one.port), "--probe", str(block), code=3)
        detected = cli.json("detect", "detect", str(one.port), str(two.port), str(block))
        human = cli("detect", str(one.port), str(two.port))
    assert [r["status"] for r in probed["results"]] == ["in_use", "free"]
    assert probed["status"] == "mixed"
    assert [r["process"] and r["process"]["pid"] for r in detected["results"]] == [
        one.pid, two.pid, None
    ]  # fmt: skip
    assert human.stdout.count("is currently occupied.") == 2


def test_kill_port_several_ports(cli: CliRunner) -> None:
    with spawn(POLITE) as one, spawn(POLITE, "::1") as two:
        document = cli.json("kill", "kill-port", str(one.port), str(two.port))
        assert not alive(one.pid)
        assert not alive(two.pid)
    assert document["status"] == "killed"
    assert [r["process"]["pid"] for r in document["results"]] == [one.pid, two.pid]


# -- kill-port --timeout and --dry-run ------------------------------------------------------


def test_kill_port_timeout_escalates_to_sigkill(cli: CliRunner) -> None:
    with spawn(STUBBORN) as server:
        document = cli.json("kill", "kill-port", str(server.port), "--timeout", "0.2")
        assert not alive(server.pid)
    assert (document["status"], document["signal"], document["escalated"]) == (
        "killed", "SIGKILL", True
    )  # fmt: skip
    assert "SIGTERM was not enough, SIGKILL ended it" in document["message"]


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "soon", ""])
def test_a_bad_timeout_is_a_usage_error(cli: CliRunner, value: str) -> None:
    with spawn(POLITE) as server:
        done = cli("kill-port", str(server.port), f"--timeout={value}")
        assert done.exit_code == 2
        assert "--timeout must be a finite number of seconds >= 0" in done.stderr
        assert alive(server.pid)


def test_dry_run_signals_nothing(cli: CliRunner) -> None:
    with spawn(FORKED) as server:
        port = str(server.port)
        kill = cli.json("kill", "kill-port", port, "--dry-run")
        human = cli("kill-port", port, "--dry-run", "--force")
        reserve = cli.json("reserve", "reserve", port, "--kill", "--dry-run", "--app", "x")
        assert all(alive(pid) for pid in server.pids)
    assert (kill["status"], kill["killed"], kill["dry_run"], kill["signal"]) == (
        "would_kill", False, True, "SIGTERM"
    )  # fmt: skip
    assert {p["pid"] for p in kill["processes"]} == server.pids
    assert human.exit_code == 0
    assert "would send SIGKILL to" in human.stdout
    assert "Nothing was signalled or changed." in human.stdout
    assert (reserve["status"], reserve["was_occupied"], reserve["killed"]) == (
        "would_reserve", True, False
    )  # fmt: skip
    assert cli.json("list", "list") == []
    usage = cli("reserve", port, "--dry-run")
    assert (usage.exit_code, usage.stderr.strip()) == (
        2, "aioports: error: --dry-run with --reserve needs --kill"
    )  # fmt: skip


def test_dry_run_on_a_free_port(cli: CliRunner, block: int) -> None:
    kill = cli.json("kill", "kill-port", str(block), "--dry-run")
    reserve = cli.json("reserve", "reserve", str(block), "--kill", "--dry-run")
    assert (kill["status"], kill["processes"]) == ("free", [])
    assert (reserve["status"], reserve["was_occupied"]) == ("would_reserve", False)
    assert cli.json("list", "list") == []


# -- JSON: compact off a terminal, hints --------------------------------------------------


def test_json_is_one_line_off_a_terminal_and_indented_on_one(cli: CliRunner, block: int) -> None:
    for args in (["probe", str(block)], ["--version"]):
        piped = cli(*args, "--json")
        shown = cli(*args, "--json", terminal=ON_A_TERMINAL)
        assert piped.stdout.count("\n") == 1
        assert piped.stdout.startswith('{"status":')
        assert shown.stdout.startswith('{\n  "status": ')
        assert json.loads(piped.stdout) == json.loads(shown.stdout)


def test_hints_name_the_command_that_fixes_the_error(cli: CliRunner, tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    corrupt = cli.json("error", "list", "--registry", str(broken), code=1)["error"]
    assert corrupt["hint"] == f"aioports repair --registry {broken}"
    foreign = tmp_path / "project.json"
    foreign.write_text('{"name": "shop"}')
    refused = cli.json("error", "repair", "--registry", str(foreign), code=1)["error"]
    assert refused["hint"] == f"aioports repair --registry {foreign} --force"
    assert cli.json("error", "release", "abc", code=2)["error"].get("hint") is None


@needs_root
def test_another_users_holder_is_named_and_the_hint_allows_it(cli: CliRunner) -> None:
    with spawn(POLITE, user=NOBODY) as server:
        port = str(server.port)
        detected = cli("detect", port)
        refused = cli.json("error", "kill-port", port, code=1)["error"]
        assert alive(server.pid)
    assert f"(PID: {server.pid}, user nobody)" in detected.stdout
    assert refused["reason"] == "other_user"
    assert refused["hint"] == f"aioports kill-port {port} --allow-other-users"


# -- schema -------------------------------------------------------------------------------


def test_schema_prints_a_shipped_schema_or_the_names(cli: CliRunner) -> None:
    names = cli.json("schema", "schema")["schemas"]
    assert names == sorted(schemas())
    assert cli("schema").stdout.split() == names
    assert cli.json("schema", "schema", "probe") == schemas()["probe"]
    assert json.loads(cli("schema", "why").stdout) == schemas()["why"]
    unknown = cli("schema", "nope")
    assert unknown.exit_code == 2
    assert "no schema named 'nope'; the schemas are: allocated, " in unknown.stderr


# -- --registry and --lock-timeout --------------------------------------------------------


def test_registry_option_wins_over_the_environment(cli: CliRunner, tmp_path: Path) -> None:
    other = tmp_path / "other" / "registry.json"
    port = cli.json("allocated", "allocate", "--registry", str(other))["port"]
    assert cli.json("list", "list") == []
    assert [a["port"] for a in cli.json("list", "--registry", str(other), "list")] == [port]


def test_lock_timeout_option(cli: CliRunner) -> None:
    with registry_locked_elsewhere(cli.registry):
        done = cli.json("error", "list", "--lock-timeout", "0.05", code=1)
    assert done["error"]["type"] == "RegistryLockTimeoutError"
    assert "0.05 s" in done["error"]["message"]
    for bad in (["--lock-timeout", "-1"], ["--lock-timeout=abc"], ["--registry="]):
        assert cli("list", *bad).exit_code == 2


# -- detect: every holder, and the port's allocation --------------------------------------


def test_detect_lists_every_holder_of_a_pre_fork_server(cli: CliRunner) -> None:
    with spawn(FORKED) as server:
        document = cli.json("detect", "detect", str(server.port))
        human = cli("detect", str(server.port))
    assert {o["pid"] for o in document["occupiers"]} == server.pids
    assert document["process"]["pid"] == server.pid  # the master first, as before
    lines = [line for line in human.stdout.splitlines() if line.startswith("Process: ")]
    assert len(lines) == 3


def test_probe_and_detect_mention_an_allocation(cli: CliRunner, block: int) -> None:
    cli("allocate", "--app", "shop", "--worktree", "feat-x")
    probed = cli.json("probe", "probe", str(block))
    detected = cli.json("detect", "detect", str(block))
    human = cli("probe", str(block))
    assert probed["status"] == "free"
    assert probed["allocation"]["metadata"] == {"app": "shop", "worktree": "feat-x"}
    assert detected["allocation"]["port"] == block
    assert human.stdout.splitlines()[1].startswith("Allocated to app shop, worktree feat-x (by PID")
    assert "allocation" not in cli.json("probe", "probe", str(block + 1))


def test_reserve_dry_run_follows_reserve_for_a_recorded_port(cli: CliRunner, block: int) -> None:
    port = str(block)
    mine = ("--app", "shop", "--worktree", "/w/shop", "--service", "web")
    assert cli("reserve", port, *mine).exit_code == 0
    again = cli.json("reserve", "reserve", port, "--kill", "--dry-run", *mine)
    assert (again["status"], again["processes"]) == ("would_reserve", [])
    other = cli.json("error", "reserve", port, "--kill", "--dry-run", "--app", "blog", code=1)
    assert other["error"]["type"] == "PortAlreadyAllocatedError"
    assert other["error"]["hint"] == f"aioports release {port}"
