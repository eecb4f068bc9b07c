"""The hosts files: ``hosts add/remove`` edit the user's config (its settings kept, its mode
kept), the admin's list is read under it, and config.load ignores the [hosts] tables."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from devbox import config
from devbox.errors import UserError
from devbox.model import hosts
from devbox.state import host_list


def test_add_keeps_the_settings_and_replace_and_remove_work(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('root = "/srv/dbx"\n\n[lab]\nsubnet = "10.9.0.0/24"\n')
    path.chmod(0o640)
    assert host_list.add(path, hosts.entry("h2", "alice@h2", port=2222))
    assert not host_list.add(path, hosts.entry("h2", "alice@h2b"))  # replaced
    assert host_list.add(path, hosts.entry("h3", "bob@h3", socket="/run/x.sock"))
    data = tomllib.loads(path.read_text())
    assert data["root"] == "/srv/dbx" and data["lab"] == {"subnet": "10.9.0.0/24"}
    assert data["hosts"] == {
        "h2": {"ssh": "alice@h2b"},
        "h3": {"ssh": "bob@h3", "socket": "/run/x.sock"},
    }
    assert path.stat().st_mode & 0o777 == 0o640
    # the config loader reads the settings and leaves the [hosts] tables to host_list
    cfg = config.load(environ={}, files=(path,))
    assert str(cfg.root) == "/srv/dbx"
    assert list(host_list.read(path)) == ["h2", "h3"]
    assert host_list.remove(path, "h2") and not host_list.remove(path, "h2")
    assert host_list.remove(path, "h3")
    assert "hosts" not in tomllib.loads(path.read_text())


def test_a_new_file_is_private_to_its_user(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "devbox" / "config.toml"
    host_list.add(path, hosts.entry("h2", "a@h2"))
    assert path.stat().st_mode & 0o777 == 0o600


def test_load_puts_the_users_list_over_the_admins(tmp_path: Path) -> None:
    system = tmp_path / "hosts.toml"
    system.write_text('[hosts.h2]\nssh = "ops@h2"\n[hosts.h9]\nssh = "ops@h9"\n')
    home = tmp_path / "home"
    host_list.add(host_list.user_file({"HOME": str(home)}), hosts.entry("h2", "me@h2"))
    both = host_list.load({"HOME": str(home)}, system=system)
    assert [(n, e.user) for n, e in both.items()] == [("h2", "me"), ("h9", "ops")]
    assert both["h9"].source == str(system)


def test_a_broken_file_fails_before_anything_is_written(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[hosts.h2]\nport = 22\n")
    with pytest.raises(UserError, match="needs ssh"):
        host_list.add(path, hosts.entry("h3", "a@h3"))
    assert path.read_text() == "[hosts.h2]\nport = 22\n"
    path.write_text("not toml [")
    with pytest.raises(UserError, match="not valid TOML"):
        host_list.read(path)
    assert host_list.read(tmp_path / "missing.toml") == {}


def test_a_hosts_file_that_is_not_toml_is_one_user_error(tmp_path: Path) -> None:
    from devbox.errors import UserError

    bad = tmp_path / "hosts.toml"
    bad.write_text("[hosts.h2\n")
    with pytest.raises(UserError, match="not valid TOML"):
        host_list.read(bad)
    assert host_list.read(tmp_path / "missing.toml") == {}
