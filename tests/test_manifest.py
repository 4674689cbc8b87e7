"""The project manifest: ``.aioports.toml`` or ``[tool.aioports]`` in ``pyproject.toml``, read
from real files; every error names the file, the key and what is allowed."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from aioports import ConfigError, ManifestError, PortRange
from aioports._manifest import Manifest, Service, default_env, find_manifest, read_manifest

EXAMPLE = """\
[tool.aioports]
app = "shop"              # optional
range = "4000-4999"       # optional
[tool.aioports.services]
web = { env = "PORT", preferred = 8000 }
api = { env = "API_PORT" }
worker = {}               # env defaults to WORKER_PORT
"""


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _manifest(tmp_path: Path, text: str) -> Manifest:
    manifest = read_manifest(_write(tmp_path, ".aioports.toml", text))
    assert manifest is not None
    return manifest


def test_the_issue_example_in_pyproject(tmp_path: Path) -> None:
    path = _write(tmp_path, "pyproject.toml", '[project]\nname = "x"\n' + EXAMPLE)
    manifest = read_manifest(path)
    assert manifest == Manifest(
        path=path,
        app="shop",
        range=PortRange(4000, 4999),
        services=(
            Service("web", "PORT", 8000),
            Service("api", "API_PORT", None),
            Service("worker", "WORKER_PORT", None),
        ),
    )
    assert manifest.service("api") == Service("api", "API_PORT")
    assert manifest.service("nope") is None
    assert manifest.services[0].to_dict() == {"name": "web", "env": "PORT", "preferred": 8000}


def test_the_same_in_aioports_toml_at_the_top_level(tmp_path: Path) -> None:
    text = EXAMPLE.replace("[tool.aioports]\n", "").replace("tool.aioports.", "")
    manifest = _manifest(tmp_path, text)
    assert manifest.app == "shop"
    assert [s.name for s in manifest.services] == ["web", "api", "worker"]


def test_everything_is_optional(tmp_path: Path) -> None:
    assert _manifest(tmp_path, "") == Manifest(tmp_path / ".aioports.toml", None, None, ())
    path = _write(tmp_path / "p", "pyproject.toml", "[tool.aioports]\n")
    assert read_manifest(path) == Manifest(path, None, None, ())


def test_a_pyproject_without_the_table_is_no_manifest(tmp_path: Path) -> None:
    assert read_manifest(_write(tmp_path, "pyproject.toml", '[project]\nname = "x"\n')) is None
    assert read_manifest(_write(tmp_path / "b", "pyproject.toml", "[tool.ruff]\n")) is None
    assert read_manifest(tmp_path / "missing" / ".aioports.toml") is None


@pytest.mark.parametrize(
    ("name", "env"),
    [("worker", "WORKER_PORT"), ("web-ui", "WEB_UI_PORT"), ("my.api", "MY_API_PORT"),
     ("Db", "DB_PORT"), ("wéb", "W_B_PORT"), ("_x", "_X_PORT")],
)  # fmt: skip
def test_default_env_names(name: str, env: str) -> None:
    assert default_env(name) == env


# (manifest text, the key named, words the reason must contain)
ERRORS = [
    ("app = ", None, "not TOML"),
    ("colour = 'red'", "colour", "unknown key (allowed: app, range, services)"),
    ("[tool.aioports]\napp = 'x'", "tool", "the keys go at the top level"),
    ("app = 5", "app", "expected text (the app's name), got an integer"),
    ("app = 1979-05-27", "app", "got a date or time"),
    ("app = ''", "app", "it is empty"),
    ("app = '  '", "app", "it is empty"),
    ('app = "a\\u0007b"', "app", "control characters"),
    ("range = [4000, 4999]", "range", 'expected text like "4000-4999", got an array'),
    ("range = '4999-4000'", "range", "the start is greater than the end"),
    ("range = '4000-70000'", "range", "outside 1-65535"),
    ("range = 'soon'", "range", "expected text like '4000-4999'"),
    ("services = 3", "services", "expected a table of services"),
    ("services = { web = 8000 }", "services.web", "expected a table like"),
    ("[services]\nweb = { port = 8000 }", "services.web.port", "allowed: env, preferred"),
    ("[services]\nweb = { env = 5 }", "services.web.env", "expected text, got an integer"),
    ("[services]\nweb = { env = 'MY-PORT' }", "services.web.env", "not a shell variable name"),
    ("[services]\nweb = { env = '1PORT' }", "services.web.env", "not a shell variable name"),
    ("[services]\nweb = { env = '' }", "services.web.env", "not a shell variable name"),
    ("[services]\nweb = { env = 'PÖRT' }", "services.web.env", "not a shell variable name"),
    ("[services]\n2fa = {}", "services.2fa", "default environment variable 2FA_PORT"),
    ("[services]\nweb = { preferred = 70000 }", "services.web.preferred", "from 1 to 65535"),
    ("[services]\nweb = { preferred = 0 }", "services.web.preferred", "got 0"),
    ("[services]\nweb = { preferred = true }", "services.web.preferred", "got True"),
    ("[services]\nweb = { preferred = '8000' }", "services.web.preferred", "got '8000'"),
    ("[services]\nweb = { preferred = 80.0 }", "services.web.preferred", "got 80.0"),
    ('[services]\n"" = {}', 'services.""', "a bad service name: it is empty"),
    ('[services]\n"a\\tb" = {}', 'services."a\\tb"', "control characters"),
    ("[services]\nweb = { env = 'API_PORT' }\napi = {}", "services.api",
     "API_PORT is also that of service 'web'"),
    ("[services]\nweb = { env = 'PORT' }\napi = { env = 'PORT' }", "services.api",
     "each service needs its own"),
    ("[services]\nweb = { preferred = 8000 }\napi = { preferred = 8000 }",
     "services.api.preferred", "port 8000 is also the preferred port of service 'web'"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "key", "words"), ERRORS)
def test_each_error_names_file_key_and_what_is_allowed(
    tmp_path: Path, text: str, key: str | None, words: str
) -> None:
    path = _write(tmp_path, ".aioports.toml", text)
    with pytest.raises(ManifestError) as caught:
        read_manifest(path)
    error = caught.value
    assert error.path == path
    assert error.key == key
    assert words in error.reason
    assert str(error).startswith(f"{path} is unusable")
    assert isinstance(error, ConfigError)
    assert isinstance(error, ValueError)  # exit 2 on the command line
    assert str(pickle.loads(pickle.dumps(error))) == str(error)


def test_errors_in_pyproject_name_the_full_key(tmp_path: Path) -> None:
    path = _write(tmp_path, "pyproject.toml", "[tool.aioports.services]\nweb = { env = 5 }\n")
    with pytest.raises(ManifestError, match=r"at tool\.aioports\.services\.web\.env: expected"):
        read_manifest(path)
    path = _write(tmp_path / "b", "pyproject.toml", "[tool]\naioports = 5\n")
    with pytest.raises(ManifestError, match=r"at tool\.aioports: expected a table"):
        read_manifest(path)


def test_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / ".aioports.toml"
    path.write_bytes(b"app = '\xff'\n")
    with pytest.raises(ManifestError, match="not UTF-8"):
        read_manifest(path)


def test_a_file_that_cannot_be_read_is_a_config_error(tmp_path: Path) -> None:
    fifo = tmp_path / ".aioports.toml"
    os.mkfifo(fifo)  # must not hang
    with pytest.raises(ConfigError, match="not a regular file") as caught:
        read_manifest(fifo)
    assert not isinstance(caught.value, ManifestError)  # not the user's text: exit 1
    big = _write(tmp_path / "big", ".aioports.toml", "#" * (1024 * 1024 + 1))
    with pytest.raises(ConfigError, match="over"):
        read_manifest(big)


def test_find_manifest_looks_upward_and_aioports_toml_wins(tmp_path: Path) -> None:
    deep = tmp_path / "a" / "b" / "c"
    deep.mkdir(parents=True)
    assert find_manifest(deep) is None
    _write(tmp_path / "a", "pyproject.toml", "[tool.aioports]\napp = 'py'\n")
    found = find_manifest(deep)
    assert found is not None
    assert found.app == "py"
    _write(tmp_path / "a", ".aioports.toml", "app = 'toml'\n")
    found = find_manifest(deep)
    assert found is not None
    assert found.app == "toml"
    assert found.path == tmp_path / "a" / ".aioports.toml"
    # A pyproject.toml on the way without the table does not stop the search.
    _write(tmp_path / "a" / "b", "pyproject.toml", "[project]\nname = 'b'\n")
    found = find_manifest(deep)
    assert found is not None
    assert found.app == "toml"


def test_find_manifest_stops_at_the_worktree_top(tmp_path: Path) -> None:
    _write(tmp_path, ".aioports.toml", "app = 'outside'\n")
    checkout = tmp_path / "checkout"
    (checkout / ".git").mkdir(parents=True)
    (checkout / "src").mkdir()
    assert find_manifest(checkout / "src") is None
    linked = tmp_path / "linked"
    _write(linked, ".git", "gitdir: /elsewhere\n")  # a linked worktree's .git file
    assert find_manifest(linked) is None


def test_find_manifest_defaults_to_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(tmp_path, ".aioports.toml", "app = 'here'\n")
    (tmp_path / ".git").mkdir()
    monkeypatch.chdir(tmp_path)
    found = find_manifest()
    assert found is not None
    assert found.app == "here"


def test_a_broken_manifest_on_the_way_is_reported(tmp_path: Path) -> None:
    _write(tmp_path, "pyproject.toml", "[tool.aioports\n")
    with pytest.raises(ManifestError, match="not TOML"):
        find_manifest(tmp_path)
