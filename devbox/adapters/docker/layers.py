"""Offline edits of a container's overlay2 layer: what virt-sysprep does to a VM disk image
before its first boot, done to a container that was created but never started.

With the overlay2 storage driver, a created container's writable layer is a plain directory
(``GraphDriver.Data.UpperDir``) that nothing has mounted yet, and the image's layers are plain
directories too (``LowerDir``, top first). overlayfs allows changes to an upper layer while it is
not mounted, in its own on-disk format: a regular file shadows the lower ones, a character
device 0/0 (a *whiteout*) hides a path of the layers below. Writing there costs microseconds,
where an archive upload through the Docker API makes the engine start a helper process (about
50 ms of CPU each) and the API cannot delete files at all.

Used only when every condition holds (overlay2, container status ``created``, its layer not
mounted, layers owned by root, i.e. no user-namespace remapping, every parent a plain directory);
otherwise callers fall back to the API.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from devbox.adapters.host.rootfs import RootDir

OPAQUE_XATTR = "trusted.overlay.opaque"


@dataclass(frozen=True)
class Layer:
    """A writable overlay2 layer and the read-only layers under it (top first)."""

    upper: Path
    lowers: tuple[Path, ...]


def _dirs(data: dict[str, Any]) -> tuple[Path | None, tuple[Path, ...]]:
    upper = Path(data["UpperDir"]) if data.get("UpperDir") else None
    lowers = tuple(Path(p) for p in str(data.get("LowerDir") or "").split(":") if p)
    return upper, lowers


def _root_owned(path: Path) -> bool:
    try:
        st = path.stat()
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == 0


def unmounted_container_layer(attrs: dict[str, Any]) -> Layer | None:
    """The layer of a created, never-started overlay2 container (``docker inspect``
    attributes) that nothing has mounted, when its layers are owned by root; else None."""
    driver = attrs.get("GraphDriver") or {}
    data = driver.get("Data") or {}
    if driver.get("Name") != "overlay2" or (attrs.get("State") or {}).get("Status") != "created":
        return None
    upper, lowers = _dirs(data)
    merged = str(data.get("MergedDir") or "")
    if upper is None or not merged or not _root_owned(upper):
        return None
    with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as fh:
        if any(f" {merged} " in line for line in fh):
            return None
    return Layer(upper, lowers)


def image_layer_dirs(attrs: dict[str, Any]) -> tuple[Path, ...] | None:
    """An overlay2 image's layer directories, top first (``docker image inspect``
    attributes); None for another driver or layers not owned by root."""
    driver = attrs.get("GraphDriver") or {}
    if driver.get("Name") != "overlay2":
        return None
    upper, lowers = _dirs(driver.get("Data") or {})
    dirs = ((upper,) if upper is not None else ()) + lowers
    if not dirs or not all(_root_owned(d) for d in dirs):
        return None
    return dirs


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _opaque(path: Path) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def merged_paths(layers: Iterable[Path], roots: Iterable[str]) -> Iterator[str]:
    """Every path under ``roots`` (absolute directories) as the merged view of ``layers`` (top
    first) shows it: whiteouts hide lower entries, an opaque directory hides lower contents."""
    stack = list(layers)

    def visible(rel: PurePosixPath) -> list[Path]:
        """The layer copies of directory ``rel`` that make up its merged contents."""
        found: list[Path] = []
        for top in stack:
            candidate = top / rel
            try:
                st = os.lstat(candidate)
            except FileNotFoundError:
                continue
            if not stat.S_ISDIR(st.st_mode):
                break  # a file, link or whiteout hides the layers below
            found.append(candidate)
            if _opaque(candidate):
                break
        return found

    todo = [PurePosixPath(r).relative_to("/") for r in roots]
    seen: set[PurePosixPath] = set()
    while todo:
        rel = todo.pop()
        if rel in seen:
            continue
        seen.add(rel)
        names: dict[str, bool] = {}  # name -> is a directory in the merged view
        for copy in visible(rel):
            try:
                entries = list(os.scandir(copy))
            except OSError:
                continue
            for entry in entries:
                if entry.name in names:
                    continue
                est = entry.stat(follow_symlinks=False)
                if _is_whiteout(est):
                    names[entry.name] = False
                    continue
                names[entry.name] = stat.S_ISDIR(est.st_mode)
                yield f"/{rel / entry.name}"
        todo.extend(rel / n for n, is_dir in names.items() if is_dir)
        # names hidden by a whiteout were recorded but not yielded


def _lookup(layer: Layer, rel: PurePosixPath) -> os.stat_result | None:
    for top in (layer.upper, *layer.lowers):
        try:
            return os.lstat(top / rel)
        except FileNotFoundError:
            continue
    return None


def parents_are_dirs(lowers: Iterable[Path], paths: Iterable[str]) -> bool:
    """Whether every parent directory of ``paths`` is a plain directory (or missing) in the
    layers ``lowers``, so :func:`edit` can write or delete them in a layer above."""
    layer = Layer(Path("/nonexistent-devbox-upper"), tuple(lowers))
    for path in paths:
        for parent in PurePosixPath(path).parents:
            rel = parent.relative_to("/")
            if rel == PurePosixPath("."):
                continue
            found = _lookup(layer, rel)
            if found is not None and not stat.S_ISDIR(found.st_mode):
                return False
    return True


def _ensure_parents(layer: Layer, root: RootDir, paths: Iterable[str]) -> bool:
    """Make the parent directories of ``paths`` in the upper layer with the owner, mode and
    times the layers below give them. False when a parent is not a plain directory there."""
    parents: dict[PurePosixPath, os.stat_result | None] = {}
    for path in paths:
        for parent in PurePosixPath(path).parents:
            rel = parent.relative_to("/")
            if rel == PurePosixPath(".") or rel in parents:
                continue
            found = _lookup(layer, rel)
            if found is not None and not stat.S_ISDIR(found.st_mode):
                return False  # a symlink or a whiteout: only the engine resolves those
            parents[rel] = found
    for rel, found in sorted(parents.items(), key=lambda kv: len(kv[0].parts)):
        if found is None:
            root.mkdir(rel, 0o755)
        else:
            root.mkdir(
                rel,
                stat.S_IMODE(found.st_mode),
                found.st_uid,
                found.st_gid,
                times_ns=(found.st_atime_ns, found.st_mtime_ns),
            )
    return True


def edit(
    layer: Layer,
    files: dict[str, tuple[bytes, int, int, int]],
    remove: Iterable[str] = (),
    dirs: dict[str, tuple[int, int, int]] | None = None,
) -> bool:
    """Delete ``remove`` (whiteouts), make ``dirs`` (``{abs path: (mode, uid, gid)}``) and
    write ``files`` (``{abs path: (data, mode, uid, gid)}``) in ``layer``'s upper directory.
    False, with nothing changed, when a parent directory on the way (or a path of ``dirs``)
    is not a plain directory in the image.

    Every write goes through :class:`devbox.adapters.host.rootfs.RootDir` on the upper directory:
    nothing is followed there (a link in the layers below is shadowed, never written through;
    the lower layers come from a ``docker commit`` of a tenant's container)."""
    gone = [p for p in remove if p not in files]
    made = dirs or {}
    for path in made:
        found = _lookup(layer, PurePosixPath(path).relative_to("/"))
        if found is not None and not stat.S_ISDIR(found.st_mode):
            return False
    with RootDir.open(layer.upper, f"the container layer {layer.upper}") as root:
        if not _ensure_parents(layer, root, [*files, *gone, *made]):
            return False
        for path, (mode, uid, gid) in sorted(made.items(), key=lambda kv: len(kv[0])):
            root.mkdir(path.lstrip("/"), mode, uid, gid)
            root.set_attrs(path.lstrip("/"), mode, uid, gid)  # made above as a parent
        for path in gone:
            root.remove(path)
            root.mknod(path, stat.S_IFCHR | 0o600, os.makedev(0, 0))
        for path, (data, mode, uid, gid) in files.items():
            st = root.lstat(path)
            if st is not None and stat.S_ISDIR(st.st_mode):
                root.remove(path)
            root.write_file(path, data, mode, uid, gid)
    return True
