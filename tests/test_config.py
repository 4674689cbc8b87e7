from __future__ import annotations

from pathlib import Path

import pytest

from aioports import ConfigError, InvalidRangeError, PortManager, PortRange
from aioports._config import default_registry_path, resolve_range


def test_registry_path_prefers_the_environment(tmp_path: Path) -> None:
    target = tmp_path / "mine.json"
    assert default_registry_path({"AIOPORTS_REGISTRY": str(target)}) == target


def test_registry_path_uses_xdg_state_home(tmp_path: Path) -> None:
    path = default_registry_path({"XDG_STATE_HOME": str(tmp_path)})
    assert path == tmp_path / "aioports" / "registry.json"


def test_registry_path_ignores_a_relative_xdg_state_home() -> None:
    path = default_registry_path({"XDG_STATE_HOME": "relative/dir"})
    assert path == Path.home() / ".local" / "state" / "aioports" / "registry.json"


def test_manager_reads_the_environment_when_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIOPORTS_REGISTRY", str(tmp_path / "env.json"))
    monkeypatch.setenv("AIOPORTS_RANGE", "5000-5099")
    manager = PortManager()
    assert manager.registry_path == tmp_path / "env.json"
    assert manager.get_range() == PortRange(5000, 5099)


def test_range_precedence() -> None:
    config = {"ports": {"range": {"start": 4000, "end": 4999}}}
    env = {"AIOPORTS_RANGE": "6000-6999"}
    assert resolve_range((7000, 7999), config, env) == PortRange(7000, 7999)
    assert resolve_range(None, config, env) == PortRange(4000, 4999)
    assert resolve_range(None, {"ports": {}}, env) == PortRange(6000, 6999)
    assert resolve_range(None, None, env) == PortRange(6000, 6999)
    assert resolve_range(None, None, {}) == PortRange(3000, 3999)


@pytest.mark.parametrize(
    "config",
    [{"ports": {"range": {"start": 10, "end": 5}}}, {"ports": 5}, {"ports": {"range": "x"}}],
)
def test_bad_config_ranges(config: object) -> None:
    with pytest.raises(InvalidRangeError):
        resolve_range(None, config, {})  # type: ignore[arg-type]


def test_bad_environment_range() -> None:
    # The environment is no argument: its problem is a ConfigError, as a bad saved range's.
    with pytest.raises(ConfigError, match="6999-6000"):
        resolve_range(None, None, {"AIOPORTS_RANGE": "6999-6000"})


def test_set_range_validates(tmp_path: Path) -> None:
    manager = PortManager(tmp_path / "r.json", range="4000-4010")
    manager.set_range({"start": 4100, "end": 4200})
    assert manager.get_range() == PortRange(4100, 4200)
    with pytest.raises(InvalidRangeError):
        manager.set_range((4200, 4100))
    assert manager.get_range() == PortRange(4100, 4200)


def test_settings_live_in_the_users_config_folder(tmp_path: Path) -> None:
    from aioports._settings import settings_path

    assert settings_path({"AIOPORTS_CONFIG": str(tmp_path / "s.toml")}) == tmp_path / "s.toml"
    config = settings_path({"XDG_CONFIG_HOME": str(tmp_path)})
    assert config == tmp_path / "aioports" / "config.toml"
    relative = settings_path({"XDG_CONFIG_HOME": "relative/dir"})
    assert relative == Path.home() / ".config" / "aioports" / "config.toml"
