"""devbox.migrate and the containers/ subtree: legacy per-container dirs move only when safe,
devbox's own folders never move, modes are fixed (issue 11, attack 4)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from devbox.errors import UserError
from devbox.model.naming import validate_name
from devbox.paths import PRIVATE, RESERVED, Layout
from devbox.state import migrate


def _legacy(root: Path, name: str, **state: object) -> Path:
    d = root / name
    (d / "opt").mkdir(parents=True)
    (d / "opt" / "user-data").write_text("keep me")
    (d / "state.json").write_text(json.dumps({"ready": True, **state}))
    return d


def test_container_dirs_never_alias_devbox_folders(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    for folder in RESERVED:
        assert layout.container_dir(folder) == tmp_path / "containers" / folder
    paths = {
        layout.logs,
        layout.ssh,
        layout.pki,
        layout.leases,
        layout.lab,
        layout.run,
        layout.snapshots,
        layout.registry,
        layout.locks,
    }
    assert not any(p.is_relative_to(layout.containers) for p in paths)
    assert layout.opt_dir("a") == layout.container_dir("a") / "opt"


@pytest.mark.parametrize("name", sorted(RESERVED))
def test_reserved_names_are_refused_as_container_names(name: str) -> None:
    with pytest.raises(UserError, match="devbox's own folders"):
        validate_name(name)
    with pytest.raises(UserError):
        validate_name(name, "clone name")
    assert validate_name(name, "image name") == name


def test_legacy_dir_of_a_gone_container_moves(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    _legacy(tmp_path, "old", ip="10.0.0.5")
    assert migrate.ensure(layout, container_exists=lambda n: False) == ["old"]
    assert not (tmp_path / "old").exists()
    assert (layout.opt_dir("old") / "user-data").read_text() == "keep me"
    assert json.loads(layout.state_file("old").read_text())["ip"] == "10.0.0.5"


def test_legacy_dir_of_an_existing_container_stays_and_is_read(tmp_path: Path) -> None:
    from devbox.state.container_records import read_state, write_state

    layout = Layout(tmp_path)
    _legacy(tmp_path, "live", ip="10.0.0.6")
    assert migrate.ensure(layout, container_exists=lambda n: True) == []
    assert (tmp_path / "live" / "opt" / "user-data").exists()
    assert migrate.record_dir(layout, "live") == tmp_path / "live"
    assert read_state(layout, "live")["ip"] == "10.0.0.6"
    write_state(layout, "live", ip="10.0.0.7")  # written to the new place, merged
    assert json.loads(layout.state_file("live").read_text()) == {"ready": True, "ip": "10.0.0.7"}
    # once the container is gone, remove moves it: the new state wins, /opt joins it
    assert migrate.adopt_legacy(layout, "live")
    assert not (tmp_path / "live").exists()
    assert (layout.opt_dir("live") / "user-data").read_text() == "keep me"
    assert read_state(layout, "live")["ip"] == "10.0.0.7"


def test_devbox_folders_and_links_never_move(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    for folder in RESERVED:
        (tmp_path / folder / "opt").mkdir(parents=True, exist_ok=True)
        (tmp_path / folder / "state.json").write_text("{}")
    target = tmp_path.parent / f"{tmp_path.name}-elsewhere"
    (target / "opt").mkdir(parents=True)
    (tmp_path / "linked").symlink_to(target)
    assert migrate.ensure(layout, container_exists=lambda n: False) == []
    for folder in RESERVED - {"containers"}:
        assert (tmp_path / folder / "state.json").exists(), folder
    assert (tmp_path / "linked").is_symlink() and (target / "opt").is_dir()
    assert migrate.record_dir(layout, "logs") == layout.container_dir("logs")


def test_modes(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    os.chmod(root, 0o777)
    (root / "ssh").mkdir()
    os.chmod(root / "ssh", 0o755)
    migrate.ensure(Layout(root), container_exists=lambda n: False)
    assert stat.S_IMODE(root.stat().st_mode) == 0o755
    for folder in PRIVATE:
        assert stat.S_IMODE((root / folder).stat().st_mode) == 0o700, folder
