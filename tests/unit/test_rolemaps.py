"""The license and /opt seed maps: matching, paths relative to the map, shipped maps parse."""

from __future__ import annotations

from pathlib import Path

import pytest

from devbox import rolemaps
from devbox.errors import UserError


def test_license_and_seed_maps(tmp_path: Path) -> None:
    lic = tmp_path / "licenses.toml"
    lic.write_text('[[license]]\nbranches = "rel-*"\nfile = "l/a.lic"\ntarget = "/opt/l"\n')
    rule = rolemaps.license_for("rel-5", lic)
    assert rule is not None and rule.file == tmp_path / "l/a.lic" and rule.target == "/opt/l"
    assert rolemaps.license_for("main", lic) is None
    seeds = tmp_path / "seeds.toml"
    seeds.write_text(
        '[[seed]]\nmatch = "dev:rel-*"\nsource = "https://x/s.tgz"\n'
        '[[seed]]\nmatch = "*:*"\nsource = "d"\n'
    )
    first = rolemaps.seed_for("dev", "rel-1", seeds)
    assert first is not None and first.is_url
    other = rolemaps.seed_for("os", "main", seeds)
    assert other is not None and other.source == str(tmp_path / "d")


def test_shipped_maps_parse() -> None:
    rule = rolemaps.license_for("main")
    assert rule is not None and rule.file.exists()
    seed = rolemaps.seed_for("dev", "main")
    assert seed is not None and Path(seed.source).is_dir()


def test_bad_license_target(tmp_path: Path) -> None:
    lic = tmp_path / "licenses.toml"
    lic.write_text('[[license]]\nbranches = "*"\nfile = "a"\ntarget = "relative"\n')
    with pytest.raises(UserError, match="absolute"):
        rolemaps.license_for("x", lic)
