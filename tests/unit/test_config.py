from __future__ import annotations

from pathlib import Path

import pytest

from devbox import config
from devbox.errors import UserError


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
