"""Work in a tree a container controls without host root: as its owner, never following links.

A container's ``dev`` user has sudo, so everything under its /opt is the tenant's. Host-side
devbox runs as root; whatever it runs in such a tree must not run as root. This module gives:

- :func:`check_owner`: the uid/gid a checkout runs as; uid 0 or gid 0 is refused (a tenant
  can ``chown root`` its own /opt; running as "the owner" would then be running as root).
- :func:`open_dir_beneath`: an fd for ``top/rel`` opened one component at a time with
  ``O_NOFOLLOW`` (a planted symlink is refused, never followed); missing directories are made
  and given to the owner.
- :class:`OwnerSandbox`: a child process that enters a private mount namespace, bind-mounts
  that fd on a neutral directory (the devbox root is not traversable by other users, so the
  owner could not reach its tree by its host path), drops to the owner (groups cleared), and
  starts in it. Mounts stay in the child's namespace; the host sees two empty directories.
- :func:`as_fs_user`: the in-process variant for libraries that write files themselves
  (P4Python): this thread's filesystem uid/gid become the owner's for the block, with only
  ``CAP_DAC_READ_SEARCH`` kept (to reach the tree), so every write, and every symlink a write
  follows, is checked as the owner, and new files belong to it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from devbox.errors import OperationFailed, UserError

CLONE_NEWNS = 0x00020000
MS_REC = 16384
MS_PRIVATE = 1 << 18
CAP_DAC_READ_SEARCH = 2
SYS_OPEN_TREE = 428  # x86_64 and aarch64 (the generic syscall table) alike
SYS_MOVE_MOUNT = 429
OPEN_TREE_CLONE = 1
AT_EMPTY_PATH = 0x1000
AT_FDCWD = -100
MOVE_MOUNT_F_EMPTY_PATH = 0x4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)

# what a child running as the owner gets: nothing inherited from devbox's environment
SAFE_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"


def check_owner(uid: int, gid: int, where: Path | str) -> tuple[int, int]:
    """``(uid, gid)`` if they are an unprivileged owner; a UserError for root."""
    if uid == 0 or gid == 0:
        raise UserError(
            f"{where} belongs to root ({uid}:{gid}); devbox will not work in a "
            "container's tree as root",
            hint="give it back to the container's user (inside the container: "
            "sudo chown -R dev:dev /opt), then retry",
        )
    return uid, gid


def open_dir_beneath(top: Path, rel: str, *, create_as: tuple[int, int] | None = None) -> int:
    """An O_RDONLY|O_DIRECTORY fd of ``top/rel``; no component may be a symlink.

    ``rel`` is a relative path ("." for ``top`` itself) already checked to hold no "..".
    With ``create_as``, missing components are made (mode 0755) and given to that uid/gid.
    """
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(top, flags)
    except OSError as err:
        raise UserError(
            f"{top}: cannot open: {err.strerror}", hint="it must be a real directory, not a symlink"
        ) from None
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    for i, part in enumerate(parts):
        where = top.joinpath(*parts[: i + 1])
        try:
            try:
                nxt = os.open(part, flags, dir_fd=fd)
            except FileNotFoundError:
                if create_as is None:
                    raise
                os.mkdir(part, 0o755, dir_fd=fd)
                nxt = os.open(part, flags, dir_fd=fd)
                os.fchown(nxt, *create_as)
        except OSError as err:
            os.close(fd)
            raise UserError(
                f"{where}: not a plain directory ({err.strerror}); devbox does not "
                "follow links in a container's tree",
                hint="remove or rename it inside the container, then retry",
            ) from None
        os.close(fd)
        fd = nxt
    return fd


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


class OwnerSandbox:
    """Run children as ``uid:gid`` inside ``dir_fd`` (see the module docstring).

    Use as a context manager; :attr:`workdir` is where the tree appears to the child (its
    cwd), :meth:`preexec` goes to ``subprocess`` as ``preexec_fn``, :meth:`env` is the whole
    environment the child gets.
    """

    def __init__(self, dir_fd: int, uid: int, gid: int) -> None:
        check_owner(uid, gid, f"fd {dir_fd}")
        self.dir_fd = dir_fd
        self.uid = uid
        self.gid = gid
        self.base = Path(tempfile.mkdtemp(prefix="devbox-owner-"))
        os.chmod(self.base, 0o711)  # the owner may pass through, not list
        self.workdir = self.base / "tree"
        self.home = self.base / "home"
        self.workdir.mkdir(mode=0o700)
        self.home.mkdir(mode=0o555)  # empty and not writable: no config, no history

    def __enter__(self) -> OwnerSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for path in (self.workdir, self.home, self.base):  # only empty directories we made
            try:
                path.rmdir()
            except OSError:
                pass

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {
            "PATH": SAFE_PATH,
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.home),
            "LC_ALL": "C",
            "TMPDIR": str(self.workdir),
            **(extra or {}),
        }

    def preexec(self) -> None:
        """In the child, before exec: private mounts, bind the tree, drop to the owner."""
        # a detached copy of the mount at the fd, made before leaving the host's namespace
        # (a plain bind of /proc/self/fd/N would name a mount of the old namespace: EINVAL)
        tree = _libc.syscall(
            SYS_OPEN_TREE, self.dir_fd, b"", OPEN_TREE_CLONE | AT_EMPTY_PATH | os.O_CLOEXEC
        )
        if tree < 0:
            _check(-1, "open_tree")
        _check(_libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
        _check(_libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate")
        _check(
            _libc.syscall(
                SYS_MOVE_MOUNT,
                tree,
                b"",
                AT_FDCWD,
                str(self.workdir).encode(),
                MOVE_MOUNT_F_EMPTY_PATH,
            ),
            "move_mount",
        )
        os.close(tree)
        os.setgroups([])
        os.setresgid(self.gid, self.gid, self.gid)
        os.setresuid(self.uid, self.uid, self.uid)
        if os.geteuid() == 0 or os.getegid() == 0:  # belt and braces
            os._exit(126)
        os.umask(0o022)
        os.chdir(self.workdir)


# -- in-process: filesystem uid/gid for one thread ---------------------------------------------


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def _caps() -> tuple[_CapHeader, ctypes.Array[_CapData]]:
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(_libc.capget(ctypes.byref(header), data), "capget")
    return header, data


def _set_effective(data: ctypes.Array[_CapData]) -> None:
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    _check(_libc.capset(ctypes.byref(header), data), "capset")


@contextmanager
def as_fs_user(uid: int, gid: int) -> Iterator[None]:
    """This thread's file accesses are the owner's for the block (see the module docstring).

    Not root (nothing to drop): a no-op. Other threads are not affected.
    """
    if os.geteuid() != 0:
        yield
        return
    check_owner(uid, gid, f"owner {uid}:{gid}")
    _header, saved = _caps()
    _libc.setfsgid(gid)
    _libc.setfsuid(uid)
    try:
        if _libc.setfsuid(-1) != uid or _libc.setfsgid(-1) != gid:
            raise OperationFailed(f"cannot switch the filesystem identity to {uid}:{gid}")
        # setfsuid dropped the file capabilities from the effective set; keep only search
        _header, now = _caps()
        now[0].effective = (1 << CAP_DAC_READ_SEARCH) & now[0].permitted
        now[1].effective = 0
        _set_effective(now)
        yield
    finally:
        _libc.setfsuid(0)
        _libc.setfsgid(0)
        _set_effective(saved)
