"""Mount table parsing, overlay options and disk usage (no root, no Docker)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from devbox.adapters.host import diskusage, mounts

MOUNTINFO = (
    "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
    "99 22 0:55 / /opt/containers/peer\\0401/opt rw,relatime shared:60 - overlay overlay "
    "rw,lowerdir=/opt/containers/snapshots/s/opt,upperdir=/u,workdir=/w\n"
    "garbage line\n"
)


def test_mountinfo_parsing_unescapes(tmp_path: Path) -> None:
    info = tmp_path / "mountinfo"
    info.write_text(MOUNTINFO)
    found = mounts.mounts(info)
    assert [m.target for m in found] == ["/", "/opt/containers/peer 1/opt"]
    assert found[1].fstype == "overlay" and "lowerdir=" in found[1].options


def test_overlay_options_refuse_separators(tmp_path: Path) -> None:
    from devbox.errors import UserError

    spec = mounts.OverlaySpec(tmp_path / "a,b", tmp_path / "u", tmp_path / "w", tmp_path / "m")
    with pytest.raises(UserError):
        spec.options()
    ok = mounts.OverlaySpec(tmp_path / "l", tmp_path / "u", tmp_path / "w", tmp_path / "m")
    assert ok.options() == f"lowerdir={tmp_path}/l,upperdir={tmp_path}/u,workdir={tmp_path}/w"


def test_disk_usage_counts_hardlinks_once(tmp_path: Path) -> None:
    data = tmp_path / "d"
    data.mkdir()
    (data / "a").write_bytes(os.urandom(64 * 1024))
    os.link(data / "a", data / "b")
    (data / "sparse").touch()
    with (data / "sparse").open("r+b") as fh:
        fh.truncate(10 * 1024 * 1024)
    used = diskusage.disk_usage(data)
    assert 64 * 1024 <= used < 200 * 1024
