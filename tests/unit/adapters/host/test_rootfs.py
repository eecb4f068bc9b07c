"""devbox.adapters.host.rootfs against a hostile tree: a tmp dir stands for a container's root,
``outside`` for the host. Every test runs with openat2 and with the per-component walk."""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devbox.adapters.host import rootfs
from devbox.errors import OperationFailed

PRECIOUS = b"host file: must not change\n"


@pytest.fixture(params=["openat2", "walk"])
def tree(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[rootfs.RootDir, Path, Path]]:
    use = request.param == "openat2"
    if use and not rootfs.openat2_available():
        pytest.skip("no openat2 on this kernel")
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    (root / "etc").mkdir(parents=True)
    outside.mkdir()
    (outside / "passwd").write_bytes(PRECIOUS)
    rd = rootfs.RootDir.open(root, "container t1", use_openat2=use)
    try:
        yield rd, root, outside
    finally:
        rd.close()


def test_writes_a_file_atomically(tree: tuple[rootfs.RootDir, Path, Path]) -> None:
    rd, root, _outside = tree
    rd.write_file("/etc/resolv.conf", b"nameserver 10.0.0.1\n", 0o640)
    target = root / "etc/resolv.conf"
    assert target.read_bytes() == b"nameserver 10.0.0.1\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    rd.write_file("etc/resolv.conf", b"again\n")
    assert target.read_bytes() == b"again\n"
    assert sorted(p.name for p in (root / "etc").iterdir()) == ["resolv.conf"]  # no temp left


def test_parents_are_made_on_request(tree: tuple[rootfs.RootDir, Path, Path]) -> None:
    rd, root, _outside = tree
    with pytest.raises(OperationFailed, match="directory is missing"):
        rd.write_file("/home/dev/.ssh/authorized_keys", b"k\n")
    rd.write_file("/home/dev/.ssh/authorized_keys", b"k\n", 0o600, parents=True)
    assert (root / "home/dev/.ssh/authorized_keys").read_bytes() == b"k\n"


@pytest.mark.parametrize("link", ["absolute", "relative", "dotdot-inside"])
def test_a_symlink_at_the_target_is_replaced_not_followed(
    tree: tuple[rootfs.RootDir, Path, Path], link: str
) -> None:
    rd, root, outside = tree
    target = root / "etc/resolv.conf"
    if link == "absolute":
        target.symlink_to(outside / "passwd")
    elif link == "relative":
        target.symlink_to("../../outside/passwd")
    else:  # ../../../../x from /etc: inside a container it means /x of that container
        target.symlink_to("../../../../../../../.." + str(outside / "passwd"))
    rd.write_file("/etc/resolv.conf", b"nameserver 10.0.0.1\n")
    assert (outside / "passwd").read_bytes() == PRECIOUS
    assert not target.is_symlink() and target.read_bytes() == b"nameserver 10.0.0.1\n"


@pytest.mark.parametrize("link", ["absolute", "relative", "inside"])
def test_a_symlinked_parent_is_refused(tree: tuple[rootfs.RootDir, Path, Path], link: str) -> None:
    rd, root, outside = tree
    (root / "etc").rmdir()
    if link == "absolute":
        (root / "etc").symlink_to(outside)
    elif link == "relative":
        (root / "etc").symlink_to("../outside")
    else:  # even a link that stays inside: nothing is ever followed
        (root / "real-etc").mkdir()
        (root / "etc").symlink_to("real-etc")
    with pytest.raises(
        OperationFailed,
        match=r"/etc is a symlink inside container t1; "
        "not following it",
    ):
        rd.write_file("/etc/passwd", b"root::0:0::/:/bin/sh\n")
    with pytest.raises(OperationFailed, match="is a symlink"):
        rd.write_file("/etc/sub/x", b"x", parents=True)
    with pytest.raises(OperationFailed, match="is a symlink"):
        rd.mkdir("/etc/sub")
    assert (outside / "passwd").read_bytes() == PRECIOUS
    assert sorted(p.name for p in outside.iterdir()) == ["passwd"]


def test_a_deep_symlinked_parent_is_refused(tree: tuple[rootfs.RootDir, Path, Path]) -> None:
    rd, root, outside = tree
    (root / "home/dev").mkdir(parents=True)
    (root / "home/dev/.ssh").symlink_to(outside)
    with pytest.raises(OperationFailed, match=r"/home/dev/\.ssh is a symlink"):
        rd.write_file("/home/dev/.ssh/passwd", b"k\n", parents=True)
    assert (outside / "passwd").read_bytes() == PRECIOUS


def test_a_magic_link_is_refused(tree: tuple[rootfs.RootDir, Path, Path]) -> None:
    rd, root, outside = tree
    (root / "proc").symlink_to("/proc/self/root")  # the host's root, through procfs
    with pytest.raises(OperationFailed, match="is a symlink"):
        rd.write_file("/proc" + str(outside / "passwd"), b"x")
    assert (outside / "passwd").read_bytes() == PRECIOUS


def test_dotdot_in_our_own_path_is_refused(tree: tuple[rootfs.RootDir, Path, Path]) -> None:
    rd, _root, outside = tree
    with pytest.raises(OperationFailed, match=r"'\.\.'"):
        rd.write_file("/etc/../../outside/passwd", b"x")
    assert (outside / "passwd").read_bytes() == PRECIOUS


def test_a_hard_link_at_the_target_is_replaced(tree: tuple[rootfs.RootDir, Path, Path]) -> None:
    rd, root, outside = tree
    os.link(outside / "passwd", root / "etc/resolv.conf")
    rd.write_file("/etc/resolv.conf", b"new\n")
    assert (outside / "passwd").read_bytes() == PRECIOUS
    assert (root / "etc/resolv.conf").read_bytes() == b"new\n"


def test_a_parent_swapped_for_a_symlink_in_a_race(tree: tuple[rootfs.RootDir, Path, Path]) -> None:
    """Another thread flips /etc/ssh between a directory and a link to outside while the
    helper writes into it: every write lands inside or is refused, none outside."""
    rd, root, outside = tree
    ssh = root / "etc/ssh"
    real = root / "etc/ssh.real"
    real.mkdir()
    stop = threading.Event()

    def flip() -> None:
        deadline = time.monotonic() + 20
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                real.rename(ssh)  # a directory...
                ssh.rename(real)
                ssh.symlink_to(outside)  # ... then a link to the host
                ssh.unlink()
            except OSError:
                pass

    flipper = threading.Thread(target=flip)
    flipper.start()
    written = refused = 0
    try:
        for _ in range(2000):
            try:
                rd.write_file("/etc/ssh/passwd", b"tenant\n")
                written += 1
            except (OperationFailed, FileNotFoundError):
                refused += 1
    finally:
        stop.set()
        flipper.join(30)
    assert (outside / "passwd").read_bytes() == PRECIOUS
    assert sorted(p.name for p in outside.iterdir()) == ["passwd"]
    assert written + refused == 2000


def test_the_target_swapped_for_a_symlink_in_a_race(
    tree: tuple[rootfs.RootDir, Path, Path],
) -> None:
    rd, root, outside = tree
    target = root / "etc/resolv.conf"
    stop = threading.Event()

    def plant() -> None:
        deadline = time.monotonic() + 20
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                tmp = root / "etc/.plant"
                tmp.symlink_to(outside / "passwd")
                tmp.rename(target)
            except OSError:
                pass

    planter = threading.Thread(target=plant)
    planter.start()
    try:
        for _ in range(2000):
            rd.write_file("/etc/resolv.conf", b"nameserver 10.0.0.1\n")
    finally:
        stop.set()
        planter.join(30)
    assert (outside / "passwd").read_bytes() == PRECIOUS


def test_mkdir_symlink_hardlink_and_remove(tree: tuple[rootfs.RootDir, Path, Path]) -> None:
    rd, root, outside = tree
    assert rd.mkdir("/opt/a/b", 0o750, parents=True)
    assert not rd.mkdir("/opt/a/b")  # exists: kept
    assert stat.S_IMODE((root / "opt/a/b").stat().st_mode) == 0o750
    rd.symlink("/opt/a/link", str(outside / "passwd"))
    assert os.readlink(root / "opt/a/link") == str(outside / "passwd")
    rd.write_file("/opt/a/file", b"f\n")
    rd.hardlink("/opt/a/hard", "/opt/a/file")
    assert (root / "opt/a/hard").stat().st_ino == (root / "opt/a/file").stat().st_ino
    (root / "opt/a/dirlink").symlink_to(outside)
    assert rd.remove("/opt/a/dirlink")  # the link, not what it points at
    assert (outside / "passwd").read_bytes() == PRECIOUS
    assert rd.remove("/opt/a")
    assert not (root / "opt/a").exists() and (outside / "passwd").exists()
    assert not rd.remove("/opt/a")
    assert rd.lstat("/opt") is not None and rd.lstat("/nope/x") is None


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_chown_tree_never_follows_links(tree: tuple[rootfs.RootDir, Path, Path]) -> None:
    rd, root, outside = tree
    (root / "opt/d").mkdir(parents=True)
    (root / "opt/d/f").write_text("f")
    (root / "opt/d/passwd").symlink_to(outside / "passwd")
    (root / "opt/dir").symlink_to(outside)
    before = (outside / "passwd").stat()
    assert rd.chown_tree(4321, 4321, "/opt") == 4
    assert (root / "opt/d/f").stat().st_uid == 4321
    assert os.lstat(root / "opt/d/passwd").st_uid == 4321  # the link itself
    after = (outside / "passwd").stat()
    assert (after.st_uid, after.st_gid) == (before.st_uid, before.st_gid)
    assert outside.stat().st_uid == before.st_uid


def test_of_pid_opens_a_process_root() -> None:
    with rootfs.RootDir.of_pid(os.getpid(), "this process") as rd:
        assert rd.lstat("/proc/self") is not None  # the link itself
