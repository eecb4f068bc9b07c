from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from devbox import config
from devbox.errors import UserError
from devbox.setting_kinds import PARSERS, TYPES


def test_defaults() -> None:
    cfg = config.load(environ={}, files=())
    assert cfg.root == Path("/opt/containers")
    assert cfg.source("root") == "default"
    assert cfg["lab.subnet"] == "10.213.0.0/24"


def test_layers_in_order(tmp_path: Path) -> None:
    system = tmp_path / "system.toml"
    user = tmp_path / "user.toml"
    system.write_text('root = "/srv/a"\ndhcp_timeout = 3\n[lab]\nsubnet = "10.9.0.0/24"\n')
    user.write_text('root = "/srv/b"\n')
    cfg = config.load(environ={"DEVBOX_DHCP_TIMEOUT": "7.5"}, files=(system, user))
    assert cfg.root == Path("/srv/b") and cfg.source("root") == str(user)
    assert cfg["lab.subnet"] == "10.9.0.0/24" and cfg.source("lab.subnet") == str(system)
    assert cfg["dhcp_timeout"] == 7.5 and cfg.source("dhcp_timeout") == "env DEVBOX_DHCP_TIMEOUT"
    flagged = cfg.with_overrides({"root": "/srv/c", "parent": None})
    assert flagged.root == Path("/srv/c") and flagged.source("root") == "flag"
    assert flagged["parent"] == ""


def test_env_names_derived() -> None:
    assert config.BY_NAME["lab.subnet"].env == "DEVBOX_LAB_SUBNET"
    assert config.BY_NAME["lab.ping_check"].env == "DEVBOX_LAB_PING_CHECK"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("root = \n", "not valid TOML"),
        ("nosuch = 1\n", "unknown setting 'nosuch'"),
        ('[lab]\nsubnet = "10.0.0.0/33"\n', "bad value for 'lab.subnet'"),
        ('dhcp_timeout = "soon"\n', "bad value for 'dhcp_timeout'"),
        ('[lab]\nping_check = "maybe"\n', "expected true or false"),
    ],
)
def test_bad_file_names_file_key_and_problem(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(UserError) as exc:
        config.load(environ={}, files=(path,))
    assert str(path) in exc.value.message
    assert needle in exc.value.message


def test_bad_env_value_names_variable() -> None:
    with pytest.raises(UserError, match="DEVBOX_LAB_RANGE_START"):
        config.load(environ={"DEVBOX_LAB_RANGE_START": "x"}, files=())


def test_user_config_path_follows_home_and_xdg() -> None:
    expected = Path("/home/u/.config/devbox/config.toml")
    assert config.user_config_path({"HOME": "/home/u"}) == expected
    assert config.user_config_path({"XDG_CONFIG_HOME": "/x"}) == Path("/x/devbox/config.toml")


# -- typed getters (issue 13): each reads only settings of its own kind

GETTERS: dict[type, str] = {
    str: "text",
    int: "integer",
    float: "number",
    bool: "flag",
    Path: "path",
}


def _cfg(**env: str) -> config.Config:
    return config.load(environ=env, files=())


def _getter(cfg: config.Config, want: type) -> Callable[[str], Any]:
    getter: Callable[[str], Any] = getattr(cfg, GETTERS[want])
    return getter


def test_every_kind_has_a_type() -> None:
    assert set(TYPES) == set(PARSERS)
    assert set(TYPES.values()) == set(GETTERS)


def test_getters_read_their_kind() -> None:
    cfg = _cfg(
        DEVBOX_LAB_SUBNET="10.9.0.0/24",
        DEVBOX_LAB_RANGE_START="120",
        DEVBOX_DHCP_TIMEOUT="7.5",
        DEVBOX_LAB_PING_CHECK="yes",
        DEVBOX_ROOT="/srv/x",
    )
    assert cfg.text("lab.subnet") == "10.9.0.0/24"
    assert cfg.integer("lab.range_start") == 120
    assert cfg.number("dhcp_timeout") == 7.5
    assert cfg.flag("lab.ping_check") is True
    assert cfg.path("root") == Path("/srv/x") == cfg.root


@pytest.mark.parametrize("setting", config.SETTINGS, ids=lambda s: s.name)
def test_each_default_reads_with_its_getter(setting: config.Setting) -> None:
    want = TYPES[setting.kind]
    value = _getter(_cfg(), want)(setting.name)
    assert isinstance(value, want) and not (want is not bool and isinstance(value, bool))


@pytest.mark.parametrize("setting", config.SETTINGS, ids=lambda s: s.name)
def test_each_other_getter_is_a_type_error(setting: config.Setting) -> None:
    cfg = _cfg()
    for want, name in GETTERS.items():
        if want is TYPES[setting.kind]:
            continue
        with pytest.raises(TypeError, match=rf"'{setting.name}'.*{name}\(\)"):
            _getter(cfg, want)(setting.name)


@pytest.mark.parametrize(
    ("getter", "name"),
    [
        ("integer", "lab.subnet"),
        ("text", "lab.range_start"),
        ("number", "lab.range_end"),
        ("integer", "dhcp_timeout"),
        ("text", "lab.ping_check"),
        ("flag", "registry.port"),
        ("text", "root"),
        ("path", "registry.address"),
    ],
)
def test_wrong_getter_is_a_type_error(getter: str, name: str) -> None:
    with pytest.raises(TypeError, match=f"setting '{name}' is of kind"):
        getattr(_cfg(), getter)(name)


def test_unknown_setting_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        _cfg().text("no.such")


def test_getters_follow_overrides() -> None:
    cfg = _cfg().with_overrides({"registry.port": "6000", "ifname": "eth9"})
    assert cfg.integer("registry.port") == 6000 and cfg.text("ifname") == "eth9"
