"""adapters/host/diskusage: ``du -s`` in bytes, never following a link (trees of tenants)."""

from __future__ import annotations

import os
from pathlib import Path

from devbox.adapters.host import diskusage
from devbox.adapters.host.diskusage import disk_usage

MB = 1024 * 1024


def _blocks(path: Path) -> int:
    return os.lstat(path).st_blocks * 512


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_counts_files_folders_and_the_top_once(tmp_path: Path) -> None:
    top = tmp_path / "t"
    (top / "a" / "b").mkdir(parents=True)
    (top / "a" / "b" / "f").write_bytes(os.urandom(64 * 1024))
    (top / "g").write_bytes(os.urandom(8 * 1024))
    os.link(top / "g", top / "a" / "g-again")
    parts = [top, top / "a", top / "a" / "b", top / "a" / "b" / "f", top / "g"]
    expected = sum(_blocks(p) for p in parts)
    assert disk_usage(top) == expected
    assert disk_usage(top, one_filesystem=False) == expected


def test_sparse_files_count_what_is_allocated(tmp_path: Path) -> None:
    (tmp_path / "sparse").touch()
    with (tmp_path / "sparse").open("r+b") as fh:
        fh.truncate(10 * MB)
    assert disk_usage(tmp_path) < MB


def test_missing_path_is_zero_and_a_file_is_its_own_blocks(tmp_path: Path) -> None:
    assert disk_usage(tmp_path / "nope") == 0
    (tmp_path / "f").write_bytes(os.urandom(16 * 1024))
    assert disk_usage(tmp_path / "f") == _blocks(tmp_path / "f") > 0


def test_links_are_never_followed(tmp_path: Path) -> None:
    outside = tmp_path / "host-secrets"
    outside.mkdir()
    (outside / "big").write_bytes(os.urandom(2 * MB))
    tree = tmp_path / "opt"
    tree.mkdir()
    (tree / "to-dir").symlink_to(outside)
    (tree / "to-file").symlink_to(outside / "big")
    assert disk_usage(tree) < MB
    link = tmp_path / "opt-link"
    link.symlink_to(outside)
    assert disk_usage(link) == _blocks(link)  # the link itself, not where it points


def test_a_folder_swapped_for_a_link_after_listing_is_skipped(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "d").mkdir()
    listed = os.lstat(tmp_path / "d")
    (tmp_path / "d").rename(tmp_path / "d-listed")  # kept: its inode is not reused
    (tmp_path / "d").symlink_to(outside)  # the tenant's move between scandir and open
    parent = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert diskusage._open_dir("d", parent, listed) is None
        (tmp_path / "d").unlink()
        (tmp_path / "d").mkdir()  # another folder in its place: not the one listed either
        assert diskusage._open_dir("d", parent, listed) is None
        fd = diskusage._open_dir("d", parent, os.lstat(tmp_path / "d"))
        assert fd is not None
        os.close(fd)
    finally:
        os.close(parent)


def test_deep_trees_close_every_folder(tmp_path: Path) -> None:
    deep = tmp_path
    for i in range(60):
        deep = deep / f"d{i}"
    deep.mkdir(parents=True)
    (deep / "f").write_bytes(b"x" * 4096)
    before = _open_fds()
    used = disk_usage(tmp_path)
    assert used >= _blocks(deep / "f") + 60 * _blocks(deep)
    assert _open_fds() == before
