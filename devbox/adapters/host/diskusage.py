"""Disk usage of a tree: the one walker of devbox (``du -s``, in bytes).

The trees measured include a container's ``/opt`` (written by its tenant), so the walk never
follows a link: each folder is opened ``O_NOFOLLOW`` relative to its parent's descriptor and
checked to be the folder that was listed, so a folder swapped for a symlink mid-walk is skipped,
not followed out of the tree. Open descriptors: one per level of depth."""

from __future__ import annotations

import os
import stat
from pathlib import Path

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def disk_usage(path: Path, *, one_filesystem: bool = True) -> int:
    """Bytes allocated on disk under ``path``, ``path`` itself included: st_blocks * 512 of
    every file, folder and link, hard links counted once, links never followed. With
    ``one_filesystem`` (``du -x``) nothing on another filesystem is counted (leave it off for
    an overlay mount, whose files report their lower filesystem's device). A missing ``path``
    is 0; what cannot be read is left out."""
    try:
        top = os.lstat(path)
    except OSError:
        return 0
    seen = {(top.st_dev, top.st_ino)}
    total = top.st_blocks * 512
    if not stat.S_ISDIR(top.st_mode):
        return total
    fd = _open_dir(str(path), None, top)
    if fd is None:
        return total
    # a stack of (folder fd, its sub-folders still to walk, each with its lstat)
    stack: list[tuple[int, list[tuple[str, os.stat_result]]]] = []
    try:
        while fd is not None:
            used, folders = _scan(fd, top.st_dev, one_filesystem, seen)
            total += used
            stack.append((fd, folders))
            fd = None
            while stack and fd is None:
                parent, pending = stack[-1]
                if not pending:
                    os.close(parent)
                    stack.pop()
                    continue
                name, st = pending.pop()
                fd = _open_dir(name, parent, st)
    finally:
        for parent, _pending in stack:
            os.close(parent)
        if fd is not None:  # opened, not yet on the stack
            os.close(fd)
    return total


def _open_dir(name: str, parent: int | None, expected: os.stat_result) -> int | None:
    """The folder ``name`` (in ``parent``) opened without following a link, if it still is
    the folder that was listed; else None."""
    try:
        fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
    except OSError:
        st = None
    if st is None or (st.st_dev, st.st_ino) != (expected.st_dev, expected.st_ino):
        os.close(fd)
        return None
    return fd


def _scan(
    fd: int, root_dev: int, one_filesystem: bool, seen: set[tuple[int, int]]
) -> tuple[int, list[tuple[str, os.stat_result]]]:
    """Bytes of the entries of the open folder ``fd`` not seen before, and its sub-folders (to
    walk next)."""
    used = 0
    folders: list[tuple[str, os.stat_result]] = []
    try:
        with os.scandir(fd) as entries:
            for entry in entries:
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if one_filesystem and st.st_dev != root_dev:
                    continue
                key = (st.st_dev, st.st_ino)
                if key in seen:
                    continue
                seen.add(key)
                used += st.st_blocks * 512
                if stat.S_ISDIR(st.st_mode):
                    folders.append((entry.name, st))
    except OSError:
        pass
    return used, folders
