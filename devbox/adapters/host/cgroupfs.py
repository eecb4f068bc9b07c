"""The host's cgroup file system, for the cgroups devbox gives each VM-style container.

devbox puts a container's cgroups under ``devbox/<name>`` (Docker's ``cgroup_parent``) and
binds only that subtree, writable, into the container (``vmstyle.cgroup_kwargs`` has the
plan and the reasons). This module says which layout the host has, applies the limits devbox
keeps above a container's own cgroups on a cgroup v2 host, and removes the directories of a
removed container (Docker removes only the container's own leaf).

Nothing here reads a file a container can write except through ``rmdir`` (which cannot follow
a link: cgroupfs has none, and ``rmdir`` never follows the last component).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from devbox.errors import OperationFailed
from devbox.model import vmstyle
from devbox.model.limits import Limits

CGROUP_ROOT = Path("/sys/fs/cgroup")


def mode(mountinfo: Path = Path("/proc/self/mountinfo")) -> str:
    """``vmstyle.CGROUP_V2`` when /sys/fs/cgroup is a cgroup2 mount (unified), else
    ``vmstyle.CGROUP_V1`` (legacy or hybrid: per-controller hierarchies and ``name=systemd``)."""
    try:
        text = mountinfo.read_text(errors="replace")
    except OSError:
        return vmstyle.CGROUP_V1
    for line in text.splitlines():
        left, _, right = line.partition(" - ")
        fields = left.split()
        if len(fields) > 4 and fields[4] == str(CGROUP_ROOT):
            return vmstyle.CGROUP_V2 if right.split()[:1] == ["cgroup2"] else vmstyle.CGROUP_V1
    return vmstyle.CGROUP_V1


def _hierarchies(cgmode: str) -> list[Path]:
    if cgmode == vmstyle.CGROUP_V2:
        return [CGROUP_ROOT]
    try:
        return sorted(p for p in CGROUP_ROOT.iterdir() if p.is_dir() and not p.is_symlink())
    except OSError:
        return []


def _rmdir_tree(top: Path) -> None:
    """rmdir a cgroup and every cgroup below it, deepest first. A cgroup with processes stays
    (EBUSY); that is the caller's to report."""
    if not top.is_dir() or top.is_symlink():
        return
    for dirpath, dirnames, _files in os.walk(top, topdown=False, followlinks=False):
        for sub in dirnames:
            _rmdir(Path(dirpath) / sub)
    _rmdir(top)


def _rmdir(path: Path) -> None:
    try:
        os.rmdir(path)
    except OSError as err:
        if err.errno not in (errno.ENOENT, errno.EBUSY, errno.ENOTEMPTY):
            raise


def remove_container_cgroups(name: str, cgmode: str | None = None) -> None:
    """Drop ``devbox/<name>`` (and its view) in every hierarchy once the container is gone."""
    cgmode = cgmode or mode()
    for hierarchy in _hierarchies(cgmode):
        for rel in vmstyle.cgroup_dirs(name):
            _rmdir_tree(hierarchy / rel)


def leftover_cgroups(name: str, cgmode: str | None = None) -> list[Path]:
    """What :func:`remove_container_cgroups` would remove (for leak checks)."""
    cgmode = cgmode or mode()
    return [
        hierarchy / rel
        for hierarchy in _hierarchies(cgmode)
        for rel in vmstyle.cgroup_dirs(name)
        if (hierarchy / rel).is_dir()
    ]


def apply_outer_limits(name: str, limits: Limits, cgmode: str | None = None) -> None:
    """cgroup v2: write the limits into ``devbox/<name>``, above the subtree the container
    can write (its own leaf's files are writable from inside on v2, so Docker's limits there
    bind nothing). cgroup v1: nothing to do; the container sees its controllers read-only."""
    cgmode = cgmode or mode()
    if cgmode != vmstyle.CGROUP_V2:
        return
    outer = CGROUP_ROOT / vmstyle.cgroup_outer(name)
    values = {
        "memory.max": str(limits.memory) if limits.memory else "max",
        "memory.swap.max": "0",
        "pids.max": str(limits.pids) if limits.pids else "max",
        "cpu.max": (f"{round(limits.cpus * 100000)} 100000" if limits.cpus else "max"),
    }
    try:
        outer.mkdir(parents=True, exist_ok=True)
        controllers = (CGROUP_ROOT / "cgroup.controllers").read_text().split()
        enable = " ".join(f"+{c}" for c in ("memory", "pids", "cpu") if c in controllers)
        for parent in (CGROUP_ROOT, CGROUP_ROOT / "devbox", outer):
            (parent / "cgroup.subtree_control").write_text(enable)
        for key, value in values.items():
            target = outer / key
            if target.exists():
                target.write_text(value)
    except OSError as err:
        raise OperationFailed(
            f"could not set the limits of {name} in {outer}: {err.strerror or err}"
        ) from err
