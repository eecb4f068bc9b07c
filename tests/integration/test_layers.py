"""Offline edits of overlay2-style layers (devbox.adapters.layers) checked by the real kernel:
fake image layers on disk, devbox edits the upper layer, then overlayfs mounts them and the
merged view must show exactly what an archive upload + ``rm -rf`` in the container would."""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from devbox.adapters.docker import layers

pytestmark = pytest.mark.integration


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[layers.Layer, Path]]:
    """Two image layers (top first: l0 over l1), an empty upper and a mount point."""
    if os.geteuid() != 0:
        pytest.fail("needs root (mknod, trusted.* xattrs, mount)", pytrace=False)
    l0, l1 = tmp_path / "l0", tmp_path / "l1"
    upper, work, merged = tmp_path / "upper", tmp_path / "work", tmp_path / "merged"
    for d in (l0, l1, upper, work, merged):
        d.mkdir()
    # bottom layer: an OS tree
    (l1 / "etc/ssh").mkdir(parents=True)
    os.chmod(l1 / "etc/ssh", 0o711)
    os.chown(l1 / "etc/ssh", 0, 4242)
    (l1 / "etc/ssh/ssh_host_rsa_key").write_text("old rsa\n")
    (l1 / "etc/ssh/sshd_config").write_text("cfg\n")
    (l1 / "var/log/journal/abc").mkdir(parents=True)
    (l1 / "var/log/journal/abc/system.journal").write_text("j\n")
    (l1 / "var/log/old.log").write_text("old\n")
    (l1 / "var/lib/opaque").mkdir(parents=True)
    (l1 / "var/lib/opaque/hidden").write_text("h\n")
    (l1 / "srv").mkdir()
    (l1 / "var/run").symlink_to("/run")
    # top layer: deletes var/log/old.log (whiteout), replaces var/lib/opaque's contents
    (l0 / "var/log").mkdir(parents=True)
    os.mknod(l0 / "var/log/old.log", stat.S_IFCHR | 0o600, os.makedev(0, 0))
    (l0 / "var/lib/opaque").mkdir(parents=True)
    os.setxattr(l0 / "var/lib/opaque", layers.OPAQUE_XATTR, b"y")
    (l0 / "var/lib/opaque/new").write_text("n\n")
    layer = layers.Layer(upper, (l0, l1))
    yield layer, merged
    subprocess.run(["umount", str(merged)], check=False, capture_output=True)


def _mount(layer: layers.Layer, merged: Path) -> None:
    work = layer.upper.parent / "work"
    lower = ":".join(str(p) for p in layer.lowers)
    subprocess.run(
        [
            "mount",
            "-t",
            "overlay",
            "overlay",
            "-o",
            f"lowerdir={lower},upperdir={layer.upper},workdir={work}",
            str(merged),
        ],
        check=True,
        capture_output=True,
    )


def test_merged_paths_follow_whiteouts_and_opaque_dirs(stack: tuple[layers.Layer, Path]) -> None:
    layer, _merged = stack
    seen = set(layers.merged_paths(layer.lowers, ["/etc", "/var"]))
    assert {
        "/etc/ssh/ssh_host_rsa_key",
        "/etc/ssh/sshd_config",
        "/var/log/journal/abc/system.journal",
        "/var/lib/opaque/new",
        "/var/run",
    } <= seen
    assert "/var/log/old.log" not in seen  # deleted by the top layer
    assert "/var/lib/opaque/hidden" not in seen  # under an opaque directory
    assert not any(p.startswith("/srv") for p in seen)  # outside the roots


def test_edit_matches_what_the_kernel_shows(stack: tuple[layers.Layer, Path]) -> None:
    layer, merged = stack
    files = {
        "/etc/ssh/ssh_host_ed25519_key": (b"new key\n", 0o600, 0, 0),
        "/etc/machine-id": (b"", 0o444, 0, 0),
        "/var/lib/fresh/state": (b"s\n", 0o640, 0, 7),
    }
    assert layers.edit(
        layer,
        files,
        ["/etc/ssh/ssh_host_rsa_key", "/var/log/journal/abc", "/etc/ssh/ssh_host_ed25519_key"],
    )
    # the parent made in the upper layer keeps the image's owner and mode
    st = os.lstat(layer.upper / "etc/ssh")
    assert stat.S_IMODE(st.st_mode) == 0o711 and st.st_gid == 4242
    _mount(layer, merged)
    assert not (merged / "etc/ssh/ssh_host_rsa_key").exists()
    assert (merged / "etc/ssh/sshd_config").read_text() == "cfg\n"
    assert not (merged / "var/log/journal/abc").exists()
    assert (merged / "var/log/journal").is_dir()
    key = merged / "etc/ssh/ssh_host_ed25519_key"
    assert key.read_bytes() == b"new key\n" and stat.S_IMODE(key.stat().st_mode) == 0o600
    assert (merged / "etc/machine-id").read_bytes() == b""
    fresh = (merged / "var/lib/fresh/state").stat()
    assert stat.S_IMODE(fresh.st_mode) == 0o640 and fresh.st_gid == 7
    assert stat.S_IMODE((merged / "etc/ssh").stat().st_mode) == 0o711


def test_edit_refuses_a_path_through_a_symlink(stack: tuple[layers.Layer, Path]) -> None:
    layer, _merged = stack
    assert not layers.edit(layer, {"/var/run/x": (b"x", 0o644, 0, 0)})
    assert list(layer.upper.iterdir()) == []  # nothing half-written


def test_parents_are_dirs_sees_symlinks_in_any_layer(stack: tuple[layers.Layer, Path]) -> None:
    layer, _merged = stack
    assert layers.parents_are_dirs(layer.lowers, ["/etc/ssh/ssh_host_ed25519_key", "/new/x"])
    assert not layers.parents_are_dirs(layer.lowers, ["/var/run/utmp"])  # /var/run -> /run


def test_edit_makes_folders_with_the_owner_and_mode_asked(
    stack: tuple[layers.Layer, Path],
) -> None:
    layer, merged = stack
    # /srv exists below as root's 0755; /srv/dev/.ssh is new: both get what is asked
    assert layers.edit(
        layer,
        {"/srv/dev/.ssh/authorized_keys": (b"k\n", 0o600, 1000, 1000)},
        dirs={"/srv/dev/.ssh": (0o700, 1000, 1000), "/srv": (0o750, 0, 1000)},
    )
    _mount(layer, merged)
    ssh_dir = (merged / "srv/dev/.ssh").stat()
    assert (stat.S_IMODE(ssh_dir.st_mode), ssh_dir.st_uid, ssh_dir.st_gid) == (0o700, 1000, 1000)
    srv = (merged / "srv").stat()
    assert (stat.S_IMODE(srv.st_mode), srv.st_gid) == (0o750, 1000)
    keys = (merged / "srv/dev/.ssh/authorized_keys").stat()
    assert (stat.S_IMODE(keys.st_mode), keys.st_uid) == (0o600, 1000)


def test_edit_refuses_a_folder_the_image_has_as_a_link(stack: tuple[layers.Layer, Path]) -> None:
    layer, _merged = stack
    assert not layers.edit(layer, {}, dirs={"/var/run": (0o700, 0, 0)})
    assert list(layer.upper.iterdir()) == []
