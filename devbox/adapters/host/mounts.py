"""Host mounts and copies for clone /opt trees: overlayfs through mount(2)/umount2(2) (ctypes,
no shell, no mount(8)), reflink-or-copy snapshots, and filesystem usage (statvfs; the disk
usage of a tree is ``adapters/host/diskusage``).
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from devbox.adapters.host import process
from devbox.errors import NotReadyError, OperationFailed, UserError
from devbox.oplog import NULL_LOG, OpLog

MNT_DETACH = 2
MS_NOSUID = 2
MS_NODEV = 4
MS_REMOUNT = 32
MS_BIND = 4096
FICLONE = 0x40049409  # _IOW(0x94, 9, int)


@cache
def _libc() -> ctypes.CDLL:
    lib = ctypes.CDLL(None, use_errno=True)  # libc is loaded already
    lib.mount.argtypes = [
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_ulong,
        ctypes.c_char_p,
    ]
    lib.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
    return lib


@dataclass(frozen=True)
class OverlaySpec:
    lower: Path
    upper: Path
    work: Path
    merged: Path

    def options(self) -> str:
        for path in (self.lower, self.upper, self.work):
            if any(c in str(path) for c in ",:\\\n"):
                raise UserError(
                    f"path {path} contains ',', ':' or '\\': overlayfs cannot use it",
                    hint="move the devbox root to a plain path (setting 'root')",
                )
        return f"lowerdir={self.lower},upperdir={self.upper},workdir={self.work}"


# redirect_dir: renaming a directory does not copy it up; metacopy: chmod/chown/rename of a big
# file copies up its metadata only (a clone costs what it really writes). Safe here: the lower
# layer is devbox's own snapshot, never an untrusted image. Dropped if the kernel refuses them.
FEATURES = "redirect_dir=on,metacopy=on"


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as \\ooo."""
    if "\\" not in field:
        return field  # nearly every field: no walk, character by character, over it
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 4 <= len(field) and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


@dataclass(frozen=True)
class MountInfo:
    target: str
    fstype: str
    source: str
    options: str  # the file system's (super block) options
    mount_options: str = ""  # this mount's own: rw, nosuid, nodev, ...


def mounts(mountinfo: Path = Path("/proc/self/mountinfo")) -> list[MountInfo]:
    out = []
    for line in mountinfo.read_text().splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        lparts, rparts = left.split(), right.split()
        if len(lparts) < 5 or len(rparts) < 3:
            continue
        out.append(
            MountInfo(_unescape(lparts[4]), rparts[0], _unescape(rparts[1]), rparts[2], lparts[5])
        )
    return out


def is_mounted(path: Path) -> bool:
    target = str(path.resolve()) if path.exists() else str(path)
    return any(m.target == target for m in mounts())


def overlay_mounts_under(root: Path) -> list[MountInfo]:
    prefix = str(root.resolve()).rstrip("/") + "/"
    return [m for m in mounts() if m.fstype == "overlay" and m.target.startswith(prefix)]


def mount_overlay(spec: OverlaySpec, log: OpLog = NULL_LOG) -> bool:
    """Mount ``spec`` (creating upper/work/merged); False when it was already mounted there."""
    options = spec.options()
    if not spec.lower.is_dir():
        raise OperationFailed(
            f"snapshot {spec.lower} is missing: cannot mount {spec.merged}",
            hint="remove the clone and clone again",
        )
    if is_mounted(spec.merged):
        return False
    fresh_upper = not spec.upper.exists()
    for path in (spec.upper, spec.work, spec.merged):
        path.mkdir(parents=True, exist_ok=True)
    if fresh_upper:
        # the merged root takes its owner and mode from the upper root: make it the lower's
        st = spec.lower.stat()
        os.chown(spec.upper, st.st_uid, st.st_gid)
        spec.upper.chmod(st.st_mode & 0o7777)
    rc, err = 1, 0
    for opts in (f"{options},{FEATURES}", options):
        log.write(f"mount -t overlay overlay -o {opts} {spec.merged}")
        # nosuid,nodev: a set-uid file or a device node a container put in its /opt is
        # worth nothing, in the container and on the host
        rc = _libc().mount(
            b"overlay", str(spec.merged).encode(), b"overlay", MS_NOSUID | MS_NODEV, opts.encode()
        )
        err = ctypes.get_errno() if rc != 0 else 0
        if rc == 0 or err != errno.EINVAL:
            break
    if rc != 0:
        if err == errno.EPERM:
            raise NotReadyError(
                f"mounting an overlay on {spec.merged} needs root (CAP_SYS_ADMIN)",
                hint="run devbox as root",
            )
        if err == errno.ENODEV:
            raise NotReadyError("the kernel has no overlayfs", hint="modprobe overlay")
        raise OperationFailed(
            f"mount overlay on {spec.merged}: {os.strerror(err)}",
            hint=f"options: {options}; see dmesg for overlayfs' reason",
        )
    return True


def ensure_nosuid(path: Path, log: OpLog = NULL_LOG) -> bool:
    """Make ``path`` a mount of its own with ``nosuid,nodev`` (a bind onto itself), so every
    tree below it (the containers' /opt trees) is nosuid,nodev on the host, and in each
    container too: a bind mount of a directory below takes its flags. False when it was
    already so."""
    path.mkdir(parents=True, exist_ok=True)
    target = str(path.resolve())
    table = mounts()
    here = [m for m in table if m.target == target]
    if here and {"nosuid", "nodev"} <= set(here[-1].mount_options.split(",")):
        return False
    below = [m.target for m in table if m.target.startswith(target + "/")]
    if not here and below:
        # a bind made now would hide what is mounted below (a clone's /opt overlay): leave
        # it until nothing is (the next reboot, or the last clone removed)
        log.write(f"not making {target} nosuid,nodev yet: {len(below)} mount(s) below it")
        return False
    raw = target.encode()
    lib = _libc()
    if not here:
        log.write(f"mount --bind {target} {target}")
        if lib.mount(raw, raw, None, MS_BIND, None) != 0:
            raise _mount_error(target, ctypes.get_errno())
    log.write(f"mount -o remount,bind,nosuid,nodev {target}")
    if lib.mount(None, raw, None, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV, None) != 0:
        err = ctypes.get_errno()
        if not here:
            lib.umount2(raw, MNT_DETACH)
        raise _mount_error(target, err)
    return True


def _mount_error(target: str, err: int) -> Exception:
    if err == errno.EPERM:
        return NotReadyError(
            f"mounting {target} needs root (CAP_SYS_ADMIN)", hint="run devbox as root"
        )
    return OperationFailed(f"bind-mount {target} nosuid,nodev: {os.strerror(err)}")


def mount_tmpfs(path: Path, mode: int = 0o700, log: OpLog = NULL_LOG) -> bool:
    """A fresh tmpfs on ``path`` (made if missing); False when something is mounted there
    already. Plain flags: it is for an engine's data root (its images' set-uid files work)."""
    if is_mounted(path):
        return False
    path.mkdir(parents=True, exist_ok=True)
    log.write(f"mount -t tmpfs -o mode={mode:o} tmpfs {path}")
    if _libc().mount(b"tmpfs", str(path).encode(), b"tmpfs", 0, f"mode={mode:o}".encode()):
        err = ctypes.get_errno()
        raise OperationFailed(f"mount tmpfs on {path}: {os.strerror(err)}")
    return True


def unmount(path: Path, log: OpLog = NULL_LOG) -> bool:
    """Unmount ``path`` (lazily if busy); False when nothing was mounted there."""
    if not is_mounted(path):
        return False
    log.write(f"umount {path}")
    target = str(path).encode()
    if _libc().umount2(target, 0) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EBUSY,):
        if _libc().umount2(target, MNT_DETACH) == 0:
            return True
        err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOENT):
        return False
    raise OperationFailed(f"umount {path}: {os.strerror(err)}")


# ---------------------------------------------------------------- copies


def reflink_supported(directory: Path) -> bool:
    """Does the filesystem of ``directory`` share blocks on copy (FICLONE: btrfs, XFS, ...)?"""
    directory.mkdir(parents=True, exist_ok=True)
    src = directory / f".devbox-reflink-probe-{os.getpid()}"
    dst = directory / f".devbox-reflink-probe-{os.getpid()}.clone"
    try:
        src.write_bytes(b"x" * 4096)
        with src.open("rb") as s, dst.open("wb") as d:
            try:
                fcntl.ioctl(d.fileno(), FICLONE, s.fileno())
                return True
            except OSError:
                return False
    finally:
        src.unlink(missing_ok=True)
        dst.unlink(missing_ok=True)


def snapshot_copy(
    source: Path, dest: Path, log: OpLog = NULL_LOG, on_line: Callable[[str], None] | None = None
) -> str:
    """Copy the tree ``source`` to ``dest`` (must not exist) keeping owners, modes, times, links,
    xattrs: a reflink copy where the filesystem shares blocks, else one plain copy.
    Returns "reflink" or "copy"."""
    if dest.exists():
        raise OperationFailed(f"snapshot target {dest} already exists")
    dest.parent.mkdir(parents=True, exist_ok=True)
    method = "reflink" if reflink_supported(dest.parent) else "copy"
    cp = process.require("cp", "coreutils")
    process.run(
        [cp, "-a", "--reflink=auto", "--", str(source), str(dest)], log=log, on_line=on_line
    )
    return method


def fs_used_bytes(path: Path) -> int:
    """Bytes in use on the filesystem holding ``path`` (statvfs)."""
    st = os.statvfs(path)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


def remove_tree(path: Path) -> None:
    """Remove a directory tree we made (upper/work layers, snapshots); refuses mount points."""
    import shutil

    if not path.exists():
        return
    target = str(path.resolve())
    under = target.rstrip("/") + "/"
    for m in mounts():  # one read of mountinfo, the path resolved once (not once per mount)
        if m.target == target:
            raise OperationFailed(f"{path} is still mounted; not removing it")
        if m.target.startswith(under):
            raise OperationFailed(f"{m.target} (under {path}) is still mounted; not removing it")
    # work dirs of overlayfs hold a root-only 'work' dir with mode 000
    for current, dirs, _files in os.walk(path):
        for d in dirs:
            full = Path(current) / d
            if not full.is_symlink():
                try:
                    full.chmod(0o700)
                except OSError:
                    pass
    path.chmod(0o700)
    shutil.rmtree(path)
