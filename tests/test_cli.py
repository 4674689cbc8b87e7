"""Every command of the ``aioports`` command line, for people and with --json, run in-process;
and the real executable started as ``python -m aioports`` and as the console script."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from cli_helpers import EXECUTABLE, CliRunner, Executable, schemas, validate
from helpers import free_block
from processes import listener_process

import aioports
from aioports.cli import main

BLOCK = 12
# Every command flag; each has its word form (``--allocate`` and ``allocate``).
COMMANDS = (
    "--allocate", "--allocate-group", "--release", "--release-group", "--list", "--probe",
    "--cleanup", "--repair", "--set-range", "--dashboard", "--reserve", "--detect",
    "--kill-port", "--scan", "--version",
)  # fmt: skip


@pytest.fixture
def block() -> int:
    return free_block(BLOCK)


@pytest.fixture
def cli(tmp_path: Path, block: int, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    registry = tmp_path / "state" / "registry.json"
    return CliRunner(monkeypatch, registry, range=f"{block}-{block + BLOCK - 1}")


def test_help_shows_an_example_for_every_command(cli: CliRunner) -> None:
    flags_form, word_form = cli.many([["--help"], ["help"]])
    assert flags_form == word_form
    assert flags_form.exit_code == 0
    for flag in COMMANDS:
        assert f"  aioports {flag}" in flags_form.stdout, flag


def test_version(cli: CliRunner) -> None:
    human, word = cli.many([["--version"], ["version"]])
    assert human.stdout == word.stdout == f"aioports {aioports.__version__}\n"
    assert cli.json("version", "--version") == {"status": "ok", "version": aioports.__version__}


def test_allocate_records_metadata_as_flags_and_as_words(cli: CliRunner, block: int) -> None:
    done = cli("--allocate", "--app", "demo", "--worktree", "feature/ui", "--service", "api")
    assert (done.exit_code, done.stdout, done.stderr) == (
        0,
        f"aioports: Allocated port {block}.\n",
        "",
    )
    document = cli.json("allocated", "allocate", "--app", "demo")
    assert document == {
        "status": "allocated",
        "port": block + 1,
        "metadata": {"app": "demo"},
        "owner_pid": None,
        "message": f"Allocated port {block + 1}.",
    }
    listed = cli.json("list", "list")
    assert [a["port"] for a in listed] == [block, block + 1]
    first = listed[0]
    assert first["metadata"] == {"app": "demo", "worktree": "feature/ui", "service": "api"}
    assert (first["group"], first["role"], first["owner_pid"]) == (None, None, None)
    assert first["pid"] > 0
    assert first["hostname"]
    table = cli("--list").stdout.splitlines()
    assert table[0].split() == [
        "PORT", "APP", "WORKTREE", "SERVICE/ROLE", "GROUP", "OWNER", "ALLOCATED", "(UTC)"
    ]  # fmt: skip
    assert table[1].split()[:6] == [str(block), "demo", "feature/ui", "api", "-", "-"]


def test_allocate_from_an_explicit_range_tied_to_an_owner(cli: CliRunner, block: int) -> None:
    with listener_process() as (pid, _):
        span = f"{block + 5}-{block + 6}"
        document = cli.json("allocated", "--allocate", "--range", span, "--owner-pid", str(pid))
        assert (document["port"], document["owner_pid"]) == (block + 5, pid)
        assert [a["owner_pid"] for a in cli.json("list", "--list")] == [pid]
    # The owner has exited: the next registry operation drops its allocation.
    assert cli.json("list", "--list") == []
    # Options may come before the command word, --range's value included.
    later = cli.json("allocated", "--range", span, "allocate")
    assert later["port"] == block + 5


def test_allocate_group_and_release_group(cli: CliRunner, block: int) -> None:
    done = cli("--allocate-group", "3", "--roles", "frontend,backend,test", "--app", "miyabi")
    assert done.exit_code == 0, done.stderr
    head, *roles = done.stdout.splitlines()
    assert head.startswith("aioports: Allocated port group ")
    group_id = head.removeprefix("aioports: Allocated port group ").rstrip(".")
    assert [line.split() for line in roles] == [
        ["frontend:", str(block)], ["backend:", str(block + 1)], ["test:", str(block + 2)]
    ]  # fmt: skip
    document = cli.json("group_allocated", "allocate-group", "2", "--worktree", "wt")
    assert document["ports"] == {"port1": block + 3, "port2": block + 4}
    assert document["message"] == f"Allocated port group {document['group_id']}."
    assert [a["group"] for a in document["allocations"]] == [document["group_id"]] * 2
    assert [a["metadata"] for a in document["allocations"]] == [{"worktree": "wt"}] * 2

    released = cli.json("group_released", "--release-group", group_id)
    assert released == {
        "status": "released",
        "group_id": group_id,
        "ports": [block, block + 1, block + 2],
        "message": f"Released port group {group_id}: {block}, {block + 1}, {block + 2}.",
    }
    again = cli("release-group", group_id)
    assert (again.exit_code, again.stdout) == (
        0, f"aioports: No port group {group_id} is allocated; nothing to release.\n"
    )  # fmt: skip
    assert cli.json("group_released", "--release-group", group_id)["status"] == "not_allocated"
    assert [a["port"] for a in cli.json("list", "--list")] == [block + 3, block + 4]


def test_release(cli: CliRunner, block: int) -> None:
    cli("--allocate")
    done = cli("--release", str(block))
    assert (done.exit_code, done.stdout) == (0, f"aioports: Released port {block}.\n")
    document = cli.json("released", "release", str(block))
    assert document == {
        "status": "not_allocated",
        "port": block,
        "released": False,
        "message": f"Port {block} was not allocated; nothing to release.",
    }


def test_probe_free_and_in_use(cli: CliRunner) -> None:
    with listener_process() as (_, busy):
        done = cli("--probe", str(busy))
        assert (done.exit_code, done.stdout) == (3, f"aioports: Port {busy} is in use.\n")
        document = cli.json("probe", "probe", str(busy), code=3)
        assert document == {
            "status": "in_use",
            "port": busy,
            "in_use": True,
            "message": f"Port {busy} is in use.",
        }
    free = cli.json("probe", "--probe", str(busy))
    assert (free["status"], free["in_use"], free["message"]) == (
        "free", False, f"Port {busy} is free."
    )  # fmt: skip


def test_cleanup_without_a_terminal_needs_yes(cli: CliRunner) -> None:
    """An agent or a script gets no question to answer: without --yes nothing is removed."""
    cli.many([["--allocate"], ["--allocate-group", "2"]])
    before = cli.registry.read_bytes()
    done = cli("--cleanup")
    assert (done.exit_code, done.stdout) == (1, "")
    assert "add --yes" in done.stderr
    assert done.stderr.count("\n") == 1
    refused = cli.json("cleanup", "cleanup", code=1)
    assert (refused["status"], refused["hint"]) == ("refused", "aioports cleanup --yes")
    assert cli.registry.read_bytes() == before
    document = cli.json("cleanup", "cleanup", "--yes")
    assert document == {
        "status": "cleaned",
        "cleaned": True,
        "released": 3,
        "message": "Cleaned up: released 3 allocation(s).",
    }


def test_corrupt_registry_names_the_file_and_the_repair(cli: CliRunner) -> None:
    cli.registry.parent.mkdir(parents=True)
    cli.registry.write_text("{not json")
    human = cli("--list")
    assert human.exit_code == 1
    assert str(cli.registry) in human.stderr
    assert "aioports repair" in human.stderr
    assert human.stdout == ""
    error = cli.json("error", "--allocate", code=1)["error"]
    assert error["type"] == "RegistryCorruptError"
    assert error["path"] == str(cli.registry)
    assert "aioports repair" in error["message"]
    assert cli.registry.read_text() == "{not json"  # never overwritten

    repaired = cli.json("repair", "--repair")
    backup = Path(repaired["backup_path"])
    assert repaired["status"] == "repaired"
    assert repaired["repaired"] is True
    assert repaired["registry"] == str(cli.registry)
    assert "not valid JSON" in repaired["reason"]
    assert repaired["message"].startswith(f"The registry {cli.registry} was unusable")
    assert backup.read_text() == "{not json"
    assert cli.json("list", "--list") == []
    healthy = cli("repair")
    assert (
        healthy.stdout == f"aioports: The registry {cli.registry} is healthy; nothing to repair.\n"
    )


def test_repair_keeps_the_valid_entries_and_refuses_foreign_files(
    cli: CliRunner, block: int
) -> None:
    cli.registry.parent.mkdir(parents=True)
    good = {"port": block, "allocated_at": "2026-01-01T00:00:00+00:00"}
    bad = {"port": block + 1, "allocated_at": "2026-01-01T00:00:00+00:00", "owner_pid": -5,
           "owner_create_time": 1.0}  # fmt: skip
    leases = {str(block): good, str(block + 1): bad}
    cli.registry.write_text(json.dumps({"version": 1, "leases": leases}))
    assert cli("list").exit_code == 1  # unusable: never half-used
    repaired = cli.json("repair", "repair")
    assert (repaired["kept"], repaired["dropped"]) == (1, [str(block + 1)])
    assert f"sets aside {block + 1}" in repaired["message"]
    assert [a["port"] for a in cli.json("list", "list")] == [block]

    package = b'{"name": "my-app", "version": "1.0.0"}'
    cli.registry.write_bytes(package)
    refused = cli.json("error", "repair", code=1)["error"]
    assert refused["type"] == "RegistryError"
    assert "--force" in refused["message"]
    assert cli.registry.read_bytes() == package
    forced = cli.json("repair", "repair", "--force")
    assert Path(forced["backup_path"]).read_bytes() == package
    assert cli.json("list", "list") == []


def test_default_range_is_saved_in_a_settings_file_of_its_own(
    tmp_path: Path, block: int, monkeypatch: pytest.MonkeyPatch, private_settings: Path
) -> None:
    cli = CliRunner(monkeypatch, tmp_path / "registry.json")  # settings: $AIOPORTS_CONFIG
    shown = cli.json("range", "--range")
    assert shown == {
        "status": "ok",
        "range": {"start": 3000, "end": 3999},
        "source": "default",
        "config_path": str(private_settings),
        "message": "The default port range is 3000-3999 (the built-in default).",
    }
    span = f"{block}-{block + 3}"
    done = cli("set-range", span)
    config = private_settings
    assert done.stdout == f"aioports: The default port range is now {span} (saved in {config}).\n"
    assert tomllib.loads(config.read_text()) == {"range": span}
    assert config.stat().st_mode & 0o777 == 0o600
    assert (
        cli("range").stdout == f"aioports: The default port range is {span} (saved in {config}).\n"
    )
    assert cli.json("allocated", "--allocate")["port"] == block
    # The environment wins over the saved range.
    env = {"AIOPORTS_RANGE": f"{block + 2}-{block + 3}"}
    assert cli.json("range", "--range", env=env)["source"] == "environment"
    assert cli.json("allocated", "--allocate", env=env)["port"] == block + 2
    noted = cli("--set-range", span, env=env)
    assert "AIOPORTS_RANGE is set" in noted.stderr

    config.write_text("[1, 2")
    broken = cli("--allocate")
    assert broken.exit_code == 1
    assert str(config) in broken.stderr
    assert cli.json("error", "--range", code=1)["error"]["type"] == "ConfigError"


def test_python_dash_m_runs_the_same_command(cli: CliRunner) -> None:
    env = Executable(cli.registry, cli.range).env()
    done = subprocess.run(
        [sys.executable, "-m", "aioports", "--probe", "0", "--json"],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert json.loads(done.stdout)["error"]["type"] == "InvalidPortError"


def test_main_returns_the_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert main(["--probe", "0"]) == 2
    assert main(["--allocate", "--list"]) == 2
    captured = capsys.readouterr()
    assert captured.out == f"aioports {aioports.__version__}\n"
    assert "invalid port 0" in captured.err
    assert "not allowed with argument" in captured.err


def test_every_schema_is_a_valid_schema() -> None:
    import jsonschema

    found = schemas()
    assert {"allocated", "dashboard", "detect", "error", "list", "reserve", "scan"} <= set(found)
    for schema in found.values():
        jsonschema.Draft202012Validator.check_schema(schema)
    with pytest.raises(jsonschema.ValidationError):
        validate("allocated", {"status": "allocated", "port": 0})


def test_the_console_script_is_installed() -> None:
    assert Path(EXECUTABLE).is_file()


def test_a_saved_range_of_0_1_is_migrated_once_and_a_projects_config_json_ignored(
    tmp_path: Path, block: int, monkeypatch: pytest.MonkeyPatch, private_settings: Path
) -> None:
    cli = CliRunner(monkeypatch, tmp_path / "state" / "registry.json")
    settings = private_settings
    old = cli.registry.with_name("config.json")
    old.parent.mkdir(parents=True)
    old.write_text(json.dumps({"version": 1, "range": {"start": block, "end": block + 3}}))
    assert cli.json("allocated", "allocate")["port"] == block  # read through the migration
    assert tomllib.loads(settings.read_text()) == {"range": f"{block}-{block + 3}"}
    assert old.exists()  # left alone: the new file wins from now on

    # A project keeping its registry in its own folder has its own config.json there.
    project = tmp_path / "project"
    project.mkdir()
    (project / "config.json").write_text('{"name": "shop", "port": 8000}')
    mine = CliRunner(monkeypatch, project / "registry.json")
    fresh = {"AIOPORTS_CONFIG": str(tmp_path / "fresh" / "config.toml")}
    assert mine.json("range", "range", env=fresh)["source"] == "default"
    assert mine("set-range", f"{block}-{block + 3}", env=fresh).exit_code == 0
    assert (project / "config.json").read_text() == '{"name": "shop", "port": 8000}'
