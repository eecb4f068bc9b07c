"""Base definitions, the exact debootstrap/dnf/yum command lines, rendered repo files, the
inputs digest, labels, and the rootfs preparation/packing (on a temp dir, no root)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from devbox import config
from devbox.errors import UserError
from devbox.model import bootstrap_plan as plan
from devbox.services import bases

SETTINGS = {s.name: s.default for s in config.SETTINGS}


def test_all_shipped_bases_parse() -> None:
    names = {b.name for b in bases.list_bases()}
    assert {"debian-12", "ubuntu-22.04", "rocky-9", "centos-7"} <= names
    assert bases.load("debian-12").tag == "base/debian-12:bookworm"
    assert bases.load("ubuntu-22.04").tag == "base/ubuntu-22.04:jammy"
    assert bases.load("rocky-9").tag == "base/rocky-9:9"
    assert bases.load("centos-7").tag == "base/centos-7:7"


def test_debootstrap_argv_debian() -> None:
    base = bases.load("debian-12")
    argv = plan.bootstrap_argv(base, "http://deb.debian.org/debian", Path("/w/rootfs"), Path("/w"))
    assert argv == [
        "debootstrap",
        "--variant=minbase",
        "--arch=amd64",
        "--components=main",
        "--include=systemd,systemd-sysv,dbus,iproute2,procps,ca-certificates",
        "bookworm",
        "/w/rootfs",
        "http://deb.debian.org/debian",
    ]


def test_debootstrap_argv_ubuntu_components() -> None:
    base = bases.load("ubuntu-22.04")
    argv = plan.debootstrap_argv(base, "http://archive.ubuntu.com/ubuntu", Path("/t"))
    assert "--components=main,universe" in argv
    assert argv[-3:] == ["jammy", "/t", "http://archive.ubuntu.com/ubuntu"]


def test_dnf_argv_rocky9() -> None:
    base = bases.load("rocky-9")
    argv = plan.bootstrap_argv(base, "https://m/rocky", Path("/w/rootfs"), Path("/w"))
    assert argv == [
        "dnf",
        "-y",
        "--installroot=/w/rootfs",
        "--releasever=9",
        "--config=/w/yum.conf",
        "--setopt=reposdir=/w/repos",
        "--setopt=cachedir=/w/cache",
        "--setopt=tsflags=nodocs",
        "--setopt=keepcache=0",
        "--disableplugin=*",
        "--setopt=install_weak_deps=False",
        "--nodocs",
        "install",
        "rocky-release",
        "systemd",
        "dnf",
        "iproute",
        "procps-ng",
        "passwd",
        "ca-certificates",
    ]


def test_yum_argv_centos7() -> None:
    base = bases.load("centos-7")
    argv = plan.bootstrap_argv(base, "https://vault.centos.org", Path("/w/rootfs"), Path("/w"))
    assert argv == [
        "yum",
        "-y",
        "--installroot=/w/rootfs",
        "--releasever=7",
        "--config=/w/yum.conf",
        "--setopt=reposdir=/w/repos",
        "--setopt=cachedir=/w/cache",
        "--setopt=tsflags=nodocs",
        "--setopt=keepcache=0",
        "--disableplugin=*",
        "install",
        "centos-release",
        "systemd",
        "yum",
        "iproute",
        "procps-ng",
        "passwd",
        "ca-certificates",
    ]
    assert plan.required_program(base) == ("yum", "yum (or dnf)")
    # where only dnf exists, the same config drives dnf (without dnf-only switches)
    assert plan.rpm_argv(base, Path("/w/rootfs"), Path("/w"), "dnf")[:2] == ["dnf", "-y"]
    assert "--nodocs" not in plan.rpm_argv(base, Path("/w/rootfs"), Path("/w"), "dnf")


def test_rendered_rocky_repo_files() -> None:
    base = bases.load("rocky-9")
    files = bases.render_repo_files(base, "https://mirror.example/rocky", Path("/w"))
    assert set(files) == {"yum.conf", "repos/rocky.repo"}
    conf = files["yum.conf"]
    assert "reposdir=/w/repos" in conf and "cachedir=/w/cache" in conf
    assert "gpgcheck=1" in conf
    repo = files["repos/rocky.repo"]
    assert "[baseos]" in repo and "[appstream]" in repo
    assert "baseurl=https://mirror.example/rocky/9/BaseOS/x86_64/os/" in repo
    assert "baseurl=https://mirror.example/rocky/9/AppStream/x86_64/os/" in repo
    assert "gpgkey=https://mirror.example/rocky/RPM-GPG-KEY-Rocky-9" in repo


def test_rendered_centos_repo_files() -> None:
    base = bases.load("centos-7")
    files = bases.render_repo_files(base, "https://vault.centos.org", Path("/w"))
    repo = files["repos/centos.repo"]
    assert "baseurl=https://vault.centos.org/7.9.2009/os/x86_64/" in repo
    assert "baseurl=https://vault.centos.org/7.9.2009/updates/x86_64/" in repo
    assert "plugins=0" in files["yum.conf"]


def test_debian_has_no_repo_files() -> None:
    assert bases.render_repo_files(bases.load("debian-12"), "http://m", Path("/w")) == {}


def test_mirror_url_from_settings_and_probe() -> None:
    base = bases.load("rocky-9")
    mirror = plan.mirror_url(base, {**SETTINGS, "mirror.rocky": "http://10.0.0.1/rocky/"})
    assert mirror == "http://10.0.0.1/rocky"
    assert (
        plan.probe_url(base, mirror)
        == "http://10.0.0.1/rocky/9/BaseOS/x86_64/os/repodata/repomd.xml"
    )
    with pytest.raises(UserError, match=r"mirror\.rocky"):
        plan.mirror_url(base, {**SETTINGS, "mirror.rocky": "ftp://x"})


def test_digest_tracks_inputs() -> None:
    base = bases.load("debian-12")
    d1 = plan.inputs_digest(base, "http://a", {})
    assert d1 == plan.inputs_digest(base, "http://a", {})
    assert d1.startswith("sha256:")
    assert d1 != plan.inputs_digest(base, "http://b", {})
    other = plan.parse_base(
        "debian-12",
        bases.bases_dir().joinpath("debian-12.toml").read_text().replace('"procps", ', ""),
    )
    assert d1 != plan.inputs_digest(other, "http://a", {})
    rocky = bases.load("rocky-9")
    r1 = plan.inputs_digest(rocky, "http://a", {"yum.conf": "x"})
    assert r1 != plan.inputs_digest(rocky, "http://a", {"yum.conf": "y"})


def test_digest_independent_of_root(tmp_path: Path) -> None:
    cfg1 = config.load(environ={"DEVBOX_ROOT": str(tmp_path / "a")}, files=())
    cfg2 = config.load(environ={"DEVBOX_ROOT": str(tmp_path / "b")}, files=())
    rocky = bases.load("rocky-9")
    assert bases.digest_for(cfg1, rocky) == bases.digest_for(cfg2, rocky)
    cfg3 = config.load(environ={"DEVBOX_MIRROR_ROCKY": "http://x/rocky"}, files=())
    assert bases.digest_for(cfg1, rocky) != bases.digest_for(cfg3, rocky)


def test_labels_tags_and_changes() -> None:
    base = bases.load("debian-12")
    labels = plan.base_labels(base, "sha256:ab", "2026-01-01T00:00:00Z", "1.2.3")
    assert labels == {
        "devbox.build.kind": "base",
        "devbox.build.base": "debian-12",
        "devbox.build.distro": "debian",
        "devbox.build.release": "bookworm",
        "devbox.build.time": "2026-01-01T00:00:00Z",
        "devbox.build.version": "1.2.3",
        "devbox.build.inputs-digest": "sha256:ab",
    }
    assert plan.base_tags(base) == ["base/debian-12:bookworm"]
    assert plan.base_tags(base, "reg:5443") == [
        "base/debian-12:bookworm",
        "reg:5443/base/debian-12:bookworm",
    ]
    changes = plan.import_changes(labels)
    assert 'CMD ["/sbin/init"]' in changes and "ENV container=docker" in changes
    assert 'LABEL devbox.build.inputs-digest="sha256:ab"' in changes
    assert plan.is_up_to_date(labels, "sha256:ab")
    assert not plan.is_up_to_date(labels, "sha256:cd")
    assert not plan.is_up_to_date(None, "sha256:ab")


def test_split_tag() -> None:
    assert plan.split_tag("base/debian-12:bookworm") == ("base/debian-12", "bookworm")
    assert plan.split_tag("reg:5443/devbox/dev") == ("reg:5443/devbox/dev", "latest")
    assert plan.split_tag("reg:5443/devbox/dev:1") == ("reg:5443/devbox/dev", "1")


@pytest.mark.parametrize(
    "text,match",
    [
        ("distro='x'", "missing field"),
        ("distro='x'\nfamily='bsd'\nrelease='1'\nmirror='mirror.x'\nprobe='p'", "family"),
        (
            "distro='x'\nfamily='rhel'\nrelease='1'\nmirror='mirror.x'\nprobe='p'\ntool='apt'",
            "tool",
        ),
        ("distro='x'\nfamily='debian'\nrelease='1'\nmirror='http://x'\nprobe='p'", "mirror"),
        ("distro = ", "TOML"),
    ],
)
def test_bad_definitions(text: str, match: str) -> None:
    with pytest.raises(UserError, match=match):
        plan.parse_base("x", text)


def test_unknown_base_lists_known() -> None:
    with pytest.raises(UserError) as err:
        bases.load("plan9")
    assert "debian-12" in (err.value.hint or "")


def test_prepare_rootfs_for_systemd(tmp_path: Path) -> None:
    from devbox.adapters import bootstrap

    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc/machine-id").write_text("0123456789abcdef\n")
    (root / "var/lib/dbus").mkdir(parents=True)
    (root / "var/lib/dbus/machine-id").symlink_to("/etc/machine-id")
    (root / "usr/sbin").mkdir(parents=True)
    (root / "usr/sbin/policy-rc.d").write_text("#!/bin/sh\nexit 101\n")
    (root / "var/cache/apt/archives/partial").mkdir(parents=True)
    (root / "var/cache/apt/archives/x.deb").write_bytes(b"deb")
    (root / "var/lib/apt/lists").mkdir(parents=True)
    (root / "var/lib/apt/lists/deb.debian.org_Packages").write_text("P")
    bootstrap.prepare_rootfs(root, plan.prepare_actions(bases.load("debian-12")))
    assert (root / "etc/machine-id").read_text() == ""
    assert not (root / "usr/sbin/policy-rc.d").exists()
    assert not (root / "var/lib/dbus/machine-id").is_symlink()
    assert not (root / "var/cache/apt/archives/x.deb").exists()
    assert (root / "var/cache/apt/archives/partial").is_dir()
    assert list((root / "var/lib/apt/lists").iterdir()) == []
    masked = root / "etc/systemd/system/getty.target"
    assert masked.is_symlink() and str(masked.readlink()) == "/dev/null"


def test_tar_stream_keeps_tree(tmp_path: Path) -> None:
    from devbox.adapters import bootstrap

    root = tmp_path / "r"
    (root / "etc").mkdir(parents=True)
    (root / "etc/hello").write_text("hi")
    (root / "bin").mkdir()
    (root / "bin/tool").write_bytes(b"\x7fELF" * 1000)
    (root / "bin/tool").chmod(0o755)
    (root / "bin/link").symlink_to("tool")
    seen: list[int] = []
    data = b"".join(bootstrap.tar_stream(root, seen.append))
    assert seen and seen[-1] == len(data)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = set(tar.getnames())
        assert {"etc", "etc/hello", "bin/tool", "bin/link"} <= names
        assert tar.getmember("bin/tool").mode & 0o777 == 0o755
        assert tar.getmember("bin/link").issym()
        hello = tar.extractfile("etc/hello")
        assert hello is not None and hello.read() == b"hi"


def test_check_mirror_names_the_mirror() -> None:
    import socket

    from devbox.adapters import bootstrap
    from devbox.errors import OperationFailed

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/rocky/9/BaseOS/x86_64/os/repodata/repomd.xml"
    with pytest.raises(OperationFailed) as err:
        bootstrap.check_mirror(url, "mirror.rocky", timeout=2)
    assert f"127.0.0.1:{port}" in err.value.message and "mirror.rocky" in err.value.message
    assert "DEVBOX_MIRROR_ROCKY" in (err.value.hint or "")
