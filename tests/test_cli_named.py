"""The named-port commands as people and agents use them: ensure, port, env, prune, the
key filters, and cleanup's refusal without a terminal. In-process (``CliRunner``), in real
git checkouts with real listeners."""

from __future__ import annotations

import os
import shutil
import textwrap
from pathlib import Path

import orjson
import pytest
from cli_helpers import CliRunner
from helpers import bindable, free_block
from processes import listener_process
from repos import add_worktree, make_repo, needs_git

pytestmark = needs_git

WIDTH = 100


@pytest.fixture
def span() -> tuple[int, int]:
    start = free_block(WIDTH)
    return start, start + WIDTH - 1


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, span: tuple[int, int]) -> Path:
    """A checkout of ``shop`` with a manifest of two services, as the cwd."""
    repo = make_repo(tmp_path / "shop")
    (repo / ".aioports.toml").write_text(
        textwrap.dedent(
            f"""
            app = "shop"
            range = "{span[0]}-{span[1]}"
            [services]
            web = {{ env = "PORT", preferred = {span[0] + 10} }}
            api = {{ env = "API_PORT" }}
            """
        )
    )
    monkeypatch.chdir(repo)
    return repo


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    return CliRunner(monkeypatch, tmp_path / "state" / "registry.json")


def test_ensure_in_a_checkout_needs_no_flags(
    cli: CliRunner, checkout: Path, span: tuple[int, int]
) -> None:
    first = cli.json("ensured", "ensure")
    assert first["app"] == "shop"
    assert first["worktree"] == str(checkout)
    assert first["branch"] == "main"
    web, api = first["services"]["web"], first["services"]["api"]
    assert (web["port"], web["env"], web["created"], web["state"]) == (
        span[0] + 10,
        "PORT",
        True,
        "free",
    )
    assert api["env"] == "API_PORT"
    assert span[0] <= api["port"] <= span[1]
    again = cli.json("ensured", "ensure")
    assert {name: s["port"] for name, s in again["services"].items()} == {
        "web": web["port"],
        "api": api["port"],
    }
    assert not any(s["created"] for s in again["services"].values())
    people = cli("ensure", "web")
    assert people.exit_code == 0
    assert people.stdout == f"aioports: shop/web -> {web['port']} (worktree main)\n"


def test_ensure_says_who_holds_the_port(cli: CliRunner, checkout: Path) -> None:
    port = cli.json("port", "port", "web")["port"]
    with listener_process(port=port) as (pid, _):
        document = cli.json("ensured", "ensure", "web")
        people = cli("ensure", "web")
    service = document["services"]["web"]
    assert (service["port"], service["state"]) == (port, "active")
    assert service["process"]["pid"] == pid
    assert "held by python" in people.stdout
    assert f"(PID {pid})" in people.stdout


def test_port_prints_only_the_number(cli: CliRunner, checkout: Path) -> None:
    done = cli("port", "api")
    assert done.exit_code == 0
    assert done.stderr == ""
    number = int(done.stdout)
    assert cli("port", "api").stdout == f"{number}\n"
    assert cli("port").stdout == cli("port", "web").stdout  # the manifest's first service
    assert cli("port", "web").stdout != cli("port", "api").stdout


def test_two_worktrees_twenty_restarts(
    cli: CliRunner, checkout: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    linked = add_worktree(checkout, tmp_path / "shop-feature", "feature")
    seen: dict[Path, set[str]] = {checkout: set(), linked: set()}
    for _ in range(20):
        for folder in seen:
            monkeypatch.chdir(folder)
            seen[folder].add(cli("port", "web").stdout)
    assert all(len(ports) == 1 for ports in seen.values())
    assert len(set().union(*seen.values())) == 2
    monkeypatch.chdir(checkout)
    assert len(cli.json("list", "list")) == 2


def test_env_formats(cli: CliRunner, checkout: Path) -> None:
    ports = cli.json("ensured", "ensure")["services"]
    web, api = ports["web"]["port"], ports["api"]["port"]
    assert cli("env").stdout == f"PORT={web}\nAPI_PORT={api}\n"
    assert cli("env", "--format", "shell").stdout == f"export PORT={web}\nexport API_PORT={api}\n"
    assert orjson.loads(cli("env", "--format", "json").stdout) == {"PORT": web, "API_PORT": api}
    assert cli.json("env", "env")["variables"] == {"PORT": web, "API_PORT": api}
    bad = cli("env", "--format", "yaml")
    assert bad.exit_code == 2
    assert "--format" in bad.stderr


def test_env_write_keeps_every_other_byte(cli: CliRunner, checkout: Path) -> None:
    dotenv = checkout / ".env"
    before = b"# mine\r\nSECRET=x\r\nPORT=1\r\n\r\nTAIL=y"
    dotenv.write_bytes(before)
    document = cli.json("env", "env", "--write", str(dotenv))
    assert document["status"] == "written"
    assert any("PORT" in w for w in document["warnings"])  # the PORT=1 outside the block
    after = dotenv.read_bytes()
    assert after.startswith(before)
    assert b"# >>> aioports >>>" in after
    assert b"# <<< aioports <<<" in after
    assert cli.json("env", "env", "--write", str(dotenv))["status"] == "unchanged"
    assert dotenv.read_bytes() == after


def test_prune_dry_run_then_prune(
    cli: CliRunner, checkout: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    linked = add_worktree(checkout, tmp_path / "old", "old")
    monkeypatch.chdir(linked)
    stale = int(cli("port", "web").stdout)
    monkeypatch.chdir(checkout)
    kept = int(cli("port", "web").stdout)
    shutil.rmtree(linked)
    before = cli.registry.read_bytes()
    dry = cli.json("prune", "prune", "--dry-run")
    assert dry["status"] == "dry_run"
    assert [(p["port"], p["reason"]) for p in dry["pruned"]] == [(stale, "worktree_gone")]
    assert cli.registry.read_bytes() == before
    people = cli("prune")
    assert people.exit_code == 0
    assert str(stale) in people.stdout
    assert "worktree is gone" in people.stdout
    assert [entry["port"] for entry in cli.json("list", "list")] == [kept]
    assert cli.json("prune", "prune")["pruned"] == []


def test_filters_on_list_release_and_cleanup(cli: CliRunner, checkout: Path) -> None:
    cli("ensure")
    one_shot = cli.json("allocated", "allocate", "--app", "other")["port"]
    assert {e["service"] for e in cli.json("list", "list", "--app", "shop")} == {"web", "api"}
    assert [e["port"] for e in cli.json("list", "list", "--app", "other")] == [one_shot]
    api = cli.json("list", "list", "--service", "api")
    assert [e["service"] for e in api] == ["api"]
    released = cli.json("released", "release", "--service", "api")
    assert released["ports"] == [api[0]["port"]]
    assert released["picked"] == {"app": None, "worktree": None, "service": "api"}
    assert cli.json("released", "release", "--service", "api")["status"] == "not_allocated"
    both = cli("release", "3000", "--app", "x")
    assert both.exit_code == 2
    done = cli.json("cleanup", "cleanup", "--app", "other", "--yes")
    assert done["released"] == 1
    assert {e["service"] for e in cli.json("list", "list")} == {"web"}


def test_cleanup_without_a_terminal_needs_yes(cli: CliRunner, checkout: Path) -> None:
    cli("ensure")
    before = cli.registry.read_bytes()
    for args in (["cleanup"], ["cleanup", "--json"], ["--cleanup"]):
        done = cli(*args)
        assert done.exit_code == 1, args
        assert "--yes" in (done.stdout + done.stderr)
    assert cli.registry.read_bytes() == before
    assert cli("cleanup", "--yes").exit_code == 0


@pytest.mark.parametrize(
    "args",
    [
        ["ensure", "--preferred", "70000"],
        ["ensure", "web", "--preferred", "abc"],
        ["ensure", "we\x1bb"],
        ["ensure", ""],
        ["ensure", "nosuch"],
        ["ensure", "--worktree", "/no/such/folder"],
        ["ensure", "--app", "bad\nname"],
        ["port", "web", "api"],
        ["env", "--write", ".env", "--format", "shell"],
    ],
)
@pytest.mark.parametrize("json_mode", [False, True], ids=["human", "json"])
def test_bad_input_exits_2_and_changes_nothing(
    cli: CliRunner, checkout: Path, args: list[str], json_mode: bool
) -> None:
    cli("ensure")
    before = cli.registry.read_bytes()
    done = cli(*args, *(["--json"] if json_mode else []))
    assert done.exit_code == 2, done
    if json_mode:
        assert done.json()["status"] == "error"
    else:
        assert done.stderr.startswith("aioports: ")
        assert done.stderr.count("\n") == 1
    assert cli.registry.read_bytes() == before


def test_a_broken_manifest_names_the_file(cli: CliRunner, checkout: Path) -> None:
    (checkout / ".aioports.toml").write_text("[services\n")
    done = cli("ensure")
    assert done.exit_code == 2
    assert ".aioports.toml" in done.stderr


def test_browser_unsafe_preferred_port_warns(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not bindable(6000):
        pytest.skip("port 6000 is in use here")
    folder = tmp_path / "plain"
    folder.mkdir()
    monkeypatch.chdir(folder)
    document = cli.json("ensured", "ensure", "web", "--preferred", "6000", "--range", "6000-6000")
    assert document["services"]["web"]["port"] == 6000
    assert any("6000" in w for w in document["warnings"])
    people = cli("ensure", "web", "--preferred", "6000", "--range", "6000-6000")
    assert "6000" in people.stderr


EPHEMERAL = Path("/proc/sys/net/ipv4/ip_local_port_range")


@pytest.mark.skipif(not EPHEMERAL.exists(), reason="no ip_local_port_range here")
def test_a_range_inside_the_ephemeral_range_warns(cli: CliRunner, tmp_path: Path) -> None:
    low, high = (int(n) for n in EPHEMERAL.read_text().split())
    span = f"{high - 20}-{high}"
    people = cli("allocate", "--range", span)
    assert people.exit_code == 0
    [warning] = [line for line in people.stderr.splitlines() if "ephemeral" in line]
    assert f"{low}-{high}" in warning
    document = cli.json("allocated", "allocate", "--range", span)
    assert any("ephemeral" in w for w in document["warnings"])
    group = cli.json("group_allocated", "allocate-group", "2", "--range", span)
    assert any("ephemeral" in w for w in group["warnings"])
    # A range below it says nothing.
    quiet = cli.json("allocated", "allocate", "--range", f"{low - 100}-{low - 1}")
    assert "warnings" not in quiet


def test_reserve_with_the_same_key_is_safe_to_repeat(cli: CliRunner, checkout: Path) -> None:
    port = free_block(1)
    key = ["--app", "shop", "--service", "db"]
    first = cli.json("reserve", "reserve", str(port), *key, "--owner-pid", str(os.getpid()))
    again = cli.json("reserve", "reserve", str(port), *key)
    assert first["status"] == again["status"] == "reserved"
    [entry] = [e for e in cli.json("list", "list") if e["port"] == port]
    assert entry["owner_pid"] == os.getpid()
    assert entry["owner_pidns"] == os.readlink("/proc/self/ns/pid")
    other = cli.json("error", "reserve", str(port), "--app", "other", code=1)
    assert other["error"]["type"] == "PortAlreadyAllocatedError"
    bare = cli.json("error", "reserve", str(port), code=1)  # no key: not the same request
    assert bare["error"]["type"] == "PortAlreadyAllocatedError"
    gone = cli("reserve", str(port + 1), "--owner-pid", "999999999")
    assert gone.exit_code == 2
