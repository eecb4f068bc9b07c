"""A container's /opt tree as a tar file, and back (``move``).

/opt is the tenant's: any entry may be a link it planted (``shadow -> /etc/shadow``, a
directory swapped for ``-> /``). :func:`pack` walks it through directory descriptors, each
opened ``O_NOFOLLOW`` from its parent's, every entry ``lstat``-ed and every file opened
``O_NOFOLLOW`` from its directory's descriptor: a link goes into the tar as a link (its
target text only), never followed; a directory or file swapped for a link meanwhile is
skipped. Devices, FIFOs and sockets are left out (/opt is ``nodev``).

:func:`unpack` writes every member through :class:`~devbox.adapters.host.rootfs.RootDir`
(tarfile's ``filter="data"`` would refuse the tenant's own absolute links, which must arrive
as links, and drop the owners): absolute names, ``..``, a path through a link, duplicates,
hard links and devices are refused, setuid/setgid cleared; it extracts only into an empty
directory devbox has just made.
"""

from __future__ import annotations

import os
import stat
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from devbox.errors import OperationFailed

Progress = Callable[[int, int | None], None]  # bytes done, total (None: unknown)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


@dataclass(frozen=True)
class Packed:
    entries: int  # members written (the top directory not counted)
    size: int  # bytes of file content
    skipped: int  # devices, FIFOs, sockets, entries that changed while walked


class _FdReader:
    """A file object over a descriptor, reading at most ``size`` bytes (a file that grew
    while packed is cut at the size its header says; one that shrank is padded by tarfile's
    error, caught by the caller)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def read(self, size: int = -1) -> bytes:
        return os.read(self.fd, size if size >= 0 else 1 << 20)


def _entries(fd: int) -> list[str]:
    with os.scandir(fd) as it:
        return sorted(entry.name for entry in it)


def _info(name: str, st: os.stat_result) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.mtime = int(st.st_mtime)
    return info


def walk(top: Path) -> Iterator[tuple[str, int, str, os.stat_result]]:
    """``(archive name, parent dir fd, entry name, lstat)`` for every entry below ``top``,
    parents first; directories are entered only through ``O_NOFOLLOW`` descriptors."""
    try:
        root = os.open(top, _DIR_FLAGS)
    except OSError as err:
        raise OperationFailed(f"cannot open the /opt tree {top}: {err.strerror}") from err
    stack: list[tuple[int, str, Iterator[str]]] = [(root, "", iter(_entries(root)))]
    try:
        while stack:
            fd, prefix, names = stack[-1]
            name = next(names, None)
            if name is None:
                os.close(fd)
                stack.pop()
                continue
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            arcname = f"{prefix}{name}"
            yield arcname, fd, name, st
            if stat.S_ISDIR(st.st_mode):
                try:
                    sub = os.open(name, _DIR_FLAGS, dir_fd=fd)
                except OSError:
                    continue  # swapped for a link or removed meanwhile: never followed
                stack.append((sub, f"{arcname}/", iter(_entries(sub))))
    finally:
        for fd, _prefix, _names in stack:
            os.close(fd)


def pack(top: Path, out: IO[bytes], progress: Progress | None = None) -> Packed:
    """Write the tree below ``top`` as an uncompressed tar to ``out`` (see the module)."""
    entries = size = skipped = 0
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for arcname, fd, name, st in walk(top):
            info = _info(arcname, st)
            if stat.S_ISDIR(st.st_mode):
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif stat.S_ISLNK(st.st_mode):
                info.type = tarfile.SYMTYPE
                info.linkname = os.readlink(name, dir_fd=fd)  # its text, never followed
                tar.addfile(info)
            elif stat.S_ISREG(st.st_mode):
                try:
                    ffd = os.open(name, _FILE_FLAGS, dir_fd=fd)
                except OSError:
                    skipped += 1  # swapped for a link or removed meanwhile
                    continue
                try:
                    now = os.fstat(ffd)
                    if not stat.S_ISREG(now.st_mode) or now.st_ino != st.st_ino:
                        skipped += 1
                        continue
                    info.size = now.st_size
                    tar.addfile(info, _FdReader(ffd))  # type: ignore[arg-type]
                    size += now.st_size
                except OSError as err:
                    raise OperationFailed(f"cannot read {top}/{arcname}: {err}") from err
                finally:
                    os.close(ffd)
            else:
                skipped += 1  # a device, FIFO or socket: /opt is nodev, nothing to carry
                continue
            entries += 1
            if progress is not None:
                progress(size, None)
    return Packed(entries, size, skipped)


def unpack(tar_path: Path, dest: Path, progress: Progress | None = None) -> Packed:
    """Extract ``tar_path`` (as :func:`pack` writes it) into the empty directory ``dest``:
    every write through :class:`~devbox.adapters.host.rootfs.RootDir` (openat2
    ``RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS``), so no member lands outside ``dest`` or
    through a link an earlier member made; absolute names, ``..``, names met twice, hard
    links, devices and FIFOs are refused (nothing :func:`pack` writes). Owners and modes
    are kept, but setuid and setgid bits are cleared. Returns the members and file bytes."""
    from devbox.adapters.host.rootfs import RootDir

    if any(dest.iterdir()):
        raise OperationFailed(f"{dest} is not empty; not extracting into it")
    total = tar_path.stat().st_size
    seen: set[str] = set()
    count = size = 0
    try:
        with tarfile.open(tar_path, mode="r:") as tar, RootDir.open(dest, f"{dest}") as root:
            for member in tar:
                name = _checked_name(member, seen)
                mode = member.mode & 0o1777  # no setuid/setgid
                if member.isdir():
                    root.mkdir(name, mode, member.uid, member.gid, exist_ok=False)
                elif member.issym():
                    root.symlink(name, member.linkname, uid=member.uid, gid=member.gid)
                elif member.isreg():
                    data = tar.extractfile(member)
                    assert data is not None
                    root.write_file(name, data, mode, member.uid, member.gid, mtime=member.mtime)
                    size += member.size
                else:
                    raise OperationFailed(
                        f"the /opt archive holds {name!r}, which is no file, directory or "
                        "symlink: refusing it"
                    )
                count += 1
                if progress is not None:
                    progress(tar.offset, total)
    except (tarfile.TarError, OSError) as err:
        raise OperationFailed(f"cannot extract the /opt archive into {dest}: {err}") from err
    return Packed(count, size, 0)


def _checked_name(member: tarfile.TarInfo, seen: set[str]) -> str:
    name = member.name
    parts = name.split("/")
    if not name or name.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise OperationFailed(f"the /opt archive holds the name {name!r}: refusing it")
    if name in seen:
        raise OperationFailed(f"the /opt archive holds {name!r} twice: refusing it")
    seen.add(name)
    return name
