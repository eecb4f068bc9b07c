"""Writes into a tree a container controls, from the host, that cannot leave that tree.

A container's root (``/proc/<pid>/root``, an overlay2 layer, its ``/opt``) is the tenant's: its
root user can plant a symlink anywhere in it (``/etc/resolv.conf -> /etc/passwd``, a symlinked
``/etc``, ``../../..`` links). A plain ``open()`` from the host follows such a link with the
host's root directory, so devbox (root) would write a host file of the tenant's choosing.

:class:`RootDir` holds a directory file descriptor of the tree and resolves every path relative
to it, never following a symlink, as runc and libpathrs do:

- ``openat2(2)`` with ``RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS``: the
  kernel refuses (``ELOOP``) any symlink on the way, and ``/`` and ``..`` stay inside the root;
- where the kernel has no openat2 (before 5.6, or a seccomp filter says ``ENOSYS``), one
  ``openat(O_NOFOLLOW | O_DIRECTORY)`` per component from the held descriptor, ``..`` refused.

A file is written to a unique temporary name in its (already opened) parent directory, synced
and renamed over the target (``renameat``): a symlink, or a hard link, at the target is
replaced, never written through. A symlink met on the way is refused with
:class:`~devbox.errors.OperationFailed` naming the path.
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import IO

from devbox.adapters.host.openat2 import available as openat2_available
from devbox.adapters.host.openat2 import open_beneath
from devbox.errors import OperationFailed

LOG = logging.getLogger(__name__)

CHUNK = 1 << 20


def _parts(path: str | PurePosixPath) -> list[str]:
    """The components of ``path`` below the root (``/etc/x`` and ``etc/x`` alike)."""
    parts = [p for p in PurePosixPath(path).parts if p not in ("/", ".")]
    if ".." in parts:
        raise OperationFailed(f"refusing the path {path}: it contains '..'")
    return parts


class RootDir:
    """A directory tree a container controls; every operation stays inside it.

    ``label`` names the tree in errors (``"container web1"``). ``use_openat2=False`` forces
    the per-component walk (tests; otherwise it is used only when openat2 is missing).
    """

    def __init__(self, fd: int, label: str, use_openat2: bool | None = None) -> None:
        self.fd = fd
        self.label = label
        self.openat2 = openat2_available() if use_openat2 is None else use_openat2

    @classmethod
    def open(
        cls, path: Path | str, label: str, *, follow: bool = False, use_openat2: bool | None = None
    ) -> RootDir:
        """Open the root directory ``path`` (a host path devbox names itself). ``follow``:
        follow a link at ``path`` itself (``/proc/<pid>/root`` is one, on purpose)."""
        flags = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
        try:
            fd = os.open(path, flags)
        except OSError as err:
            raise OperationFailed(
                f"cannot open the root of {label} ({path}): {err.strerror}"
            ) from err
        return cls(fd, label, use_openat2)

    @classmethod
    def of_pid(cls, pid: int, label: str, use_openat2: bool | None = None) -> RootDir:
        """The root directory of running process ``pid`` (a container's init), opened once:
        later writes go to that tree even if the pid is reused."""
        return cls.open(f"/proc/{pid}/root", label, follow=True, use_openat2=use_openat2)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> RootDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ resolution

    def _refuse(self, path: str, why: str = "") -> OperationFailed:
        message = (
            f"{path} is a symlink inside {self.label}; not following it"
            if not why
            else f"{path} in {self.label}: {why}"
        )
        LOG.warning("refused: %s", message)
        return OperationFailed(
            message,
            hint="the container's root planted a link there: remove it inside the container",
        )

    def _component_error(self, dirfd: int, name: str, shown: str, err: OSError) -> Exception:
        if err.errno in (errno.ELOOP, errno.ENOTDIR, errno.EXDEV):
            try:
                st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
            except OSError:
                st = None
            if err.errno == errno.ELOOP or (st is not None and stat.S_ISLNK(st.st_mode)):
                return self._refuse(shown)
            return self._refuse(shown, "not a directory")
        return err

    def open_dir(
        self, path: str | PurePosixPath, *, create: bool = False, mode: int = 0o755
    ) -> int:
        """A directory descriptor (``O_RDONLY``) of ``path`` inside the root; ``create``:
        make missing components (``mode``, root-owned). The caller closes it."""
        parts = _parts(path)
        if self.openat2:
            try:
                return open_beneath(self.fd, "/".join(parts) or ".", os.O_RDONLY | os.O_DIRECTORY)
            except FileNotFoundError:
                if not create:
                    raise
            except OSError as err:
                if err.errno not in (errno.ELOOP, errno.ENOTDIR, errno.EXDEV, errno.EAGAIN):
                    raise
            # missing components to make, or a refusal to name: walk (never following links)
        fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=self.fd)
        try:
            for index, name in enumerate(parts):
                shown = "/" + "/".join(parts[: index + 1])
                try:
                    nfd = os.open(
                        name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd
                    )
                except FileNotFoundError:
                    if not create:
                        raise
                    try:
                        os.mkdir(name, mode, dir_fd=fd)
                    except FileExistsError:
                        pass  # made meanwhile; opened (never followed) below
                    try:
                        nfd = os.open(
                            name,
                            os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                            dir_fd=fd,
                        )
                    except OSError as err:
                        raise self._component_error(fd, name, shown, err) from err
                except OSError as err:
                    raise self._component_error(fd, name, shown, err) from err
                os.close(fd)
                fd = nfd
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _parent(self, path: str | PurePosixPath, create: bool) -> tuple[int, str, str]:
        parts = _parts(path)
        if not parts:
            raise OperationFailed(f"refusing to replace the root of {self.label}")
        return self.open_dir("/".join(parts[:-1]), create=create), parts[-1], "/" + "/".join(parts)

    def _wrap(self, what: str, shown: str, err: OSError) -> OperationFailed:
        return OperationFailed(f"{what} {shown} in {self.label}: {err.strerror or err}")

    # ------------------------------------------------------------------ reading

    def lstat(self, path: str | PurePosixPath) -> os.stat_result | None:
        """``lstat`` of ``path`` (its parents never followed); None when it is missing."""
        try:
            pfd, name, _shown = self._parent(path, create=False)
        except FileNotFoundError:
            return None
        try:
            return os.stat(name, dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        finally:
            os.close(pfd)

    # ------------------------------------------------------------------ writing

    def write_file(
        self,
        path: str | PurePosixPath,
        data: bytes | IO[bytes],
        mode: int = 0o644,
        uid: int = 0,
        gid: int = 0,
        *,
        parents: bool = False,
        mtime: float | None = None,
    ) -> None:
        """Put ``data`` (bytes or a binary stream) at ``path``: a new file, synced, renamed over
        whatever is there (a symlink there is replaced, not followed). ``parents``: make
        missing parent directories (0755, root)."""
        try:
            pfd, name, shown = self._parent(path, create=parents)
        except FileNotFoundError as err:
            raise OperationFailed(
                f"cannot write {path} in {self.label}: its directory is missing"
            ) from err
        tmp = f".{name[:200]}.devbox-{secrets.token_hex(6)}"
        try:
            try:
                fd = os.open(
                    tmp,
                    os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                    0o600,
                    dir_fd=pfd,
                )
            except OSError as err:
                raise self._wrap("cannot write", shown, err) from err
            try:
                if isinstance(data, bytes | bytearray):
                    _write_all(fd, data)
                else:
                    for block in iter(lambda: data.read(CHUNK), b""):
                        _write_all(fd, block)
                os.fchown(fd, uid, gid)
                os.fchmod(fd, stat.S_IMODE(mode))
                if mtime is not None:
                    os.utime(fd, (mtime, mtime))
                os.fsync(fd)
            except BaseException:
                os.close(fd)
                os.unlink(tmp, dir_fd=pfd)
                raise
            os.close(fd)
            try:
                os.rename(tmp, name, src_dir_fd=pfd, dst_dir_fd=pfd)
            except OSError as err:
                os.unlink(tmp, dir_fd=pfd)
                raise self._wrap("cannot write", shown, err) from err
            os.fsync(pfd)
        finally:
            os.close(pfd)

    def symlink(
        self,
        path: str | PurePosixPath,
        target: str,
        *,
        parents: bool = False,
        uid: int | None = None,
        gid: int | None = None,
    ) -> None:
        """Make ``path`` a symlink to ``target`` (replacing what is there; the link is made,
        never followed)."""
        pfd, name, shown = self._parent(path, create=parents)
        tmp = f".{name[:200]}.devbox-{secrets.token_hex(6)}"
        try:
            os.symlink(target, tmp, dir_fd=pfd)
            if uid is not None and gid is not None:
                os.chown(tmp, uid, gid, dir_fd=pfd, follow_symlinks=False)
            try:
                os.rename(tmp, name, src_dir_fd=pfd, dst_dir_fd=pfd)
            except OSError as err:
                os.unlink(tmp, dir_fd=pfd)
                raise self._wrap("cannot make the link", shown, err) from err
        finally:
            os.close(pfd)

    def hardlink(
        self, path: str | PurePosixPath, existing: str | PurePosixPath, *, parents: bool = False
    ) -> None:
        """Make ``path`` a hard link to ``existing`` (both inside the root; a symlink at
        ``existing`` is linked as a symlink, never followed)."""
        spfd, sname, _sshown = self._parent(existing, create=False)
        try:
            pfd, name, shown = self._parent(path, create=parents)
            tmp = f".{name[:200]}.devbox-{secrets.token_hex(6)}"
            try:
                try:
                    os.link(sname, tmp, src_dir_fd=spfd, dst_dir_fd=pfd, follow_symlinks=False)
                    os.rename(tmp, name, src_dir_fd=pfd, dst_dir_fd=pfd)
                except OSError as err:
                    try:
                        os.unlink(tmp, dir_fd=pfd)
                    except FileNotFoundError:
                        pass
                    raise self._wrap("cannot make the hard link", shown, err) from err
            finally:
                os.close(pfd)
        finally:
            os.close(spfd)

    def mkdir(
        self,
        path: str | PurePosixPath,
        mode: int = 0o755,
        uid: int | None = None,
        gid: int | None = None,
        *,
        parents: bool = False,
        times_ns: tuple[int, int] | None = None,
        exist_ok: bool = True,
    ) -> bool:
        """Make directory ``path``; True when made. An existing directory is kept as it is
        (a symlink there is refused)."""
        pfd, name, shown = self._parent(path, create=parents)
        try:
            try:
                os.mkdir(name, 0o700, dir_fd=pfd)
                made = True
            except FileExistsError:
                if not exist_ok:
                    raise
                made = False
            try:
                fd = os.open(
                    name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd
                )
            except OSError as err:
                raise self._component_error(pfd, name, shown, err) from err
            try:
                if made:
                    if uid is not None and gid is not None:
                        os.fchown(fd, uid, gid)
                    os.fchmod(fd, stat.S_IMODE(mode))
                    if times_ns is not None:
                        os.utime(fd, ns=times_ns)
            finally:
                os.close(fd)
            return made
        finally:
            os.close(pfd)

    def set_attrs(
        self,
        path: str | PurePosixPath,
        mode: int | None = None,
        uid: int | None = None,
        gid: int | None = None,
        mtime: float | None = None,
    ) -> None:
        """chmod/chown/utime a directory ``path`` through a descriptor (never a link)."""
        fd = self.open_dir(path)
        try:
            if uid is not None and gid is not None:
                os.fchown(fd, uid, gid)
            if mode is not None:
                os.fchmod(fd, stat.S_IMODE(mode))
            if mtime is not None:
                os.utime(fd, (mtime, mtime))
        finally:
            os.close(fd)

    def mknod(self, path: str | PurePosixPath, mode: int, device: int = 0) -> None:
        """A device node at ``path`` (overlayfs whiteouts: ``S_IFCHR``, device 0/0); the
        parent must exist and nothing may be at ``path``."""
        pfd, name, shown = self._parent(path, create=False)
        try:
            os.mknod(name, mode, device, dir_fd=pfd)
        except OSError as err:
            raise self._wrap("cannot make", shown, err) from err
        finally:
            os.close(pfd)

    def remove(self, path: str | PurePosixPath) -> bool:
        """Remove ``path`` (a file, a link itself, or a whole directory tree, links inside
        never followed); True when something was there."""
        try:
            pfd, name, shown = self._parent(path, create=False)
        except FileNotFoundError:
            return False
        try:
            try:
                st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
            except FileNotFoundError:
                return False
            try:
                if stat.S_ISDIR(st.st_mode):
                    shutil.rmtree(name, dir_fd=pfd)  # the fd-based walk: links not followed
                else:
                    os.unlink(name, dir_fd=pfd)
            except OSError as err:
                raise self._wrap("cannot remove", shown, err) from err
            return True
        finally:
            os.close(pfd)

    def chown_tree(self, uid: int, gid: int, path: str | PurePosixPath = ".") -> int:
        """``lchown`` ``path`` and everything below it; never follows a link (each directory
        is opened ``O_NOFOLLOW`` from its parent's descriptor, so a directory swapped for a
        link meanwhile is skipped). Returns the number of entries changed."""
        top = self.open_dir(path)
        count = 0
        os.fchown(top, uid, gid)
        stack: list[tuple[int, Iterator[str]]] = [(top, iter(self._entries(top)))]
        try:
            while stack:
                fd, names = stack[-1]
                name = next(names, None)
                if name is None:
                    os.close(fd)
                    stack.pop()
                    continue
                try:
                    os.chown(name, uid, gid, dir_fd=fd, follow_symlinks=False)
                    count += 1
                    st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if not stat.S_ISDIR(st.st_mode):
                    continue
                try:
                    sub = os.open(
                        name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd
                    )
                except OSError:
                    continue  # replaced by a link or removed meanwhile: never followed
                stack.append((sub, iter(self._entries(sub))))
        finally:
            for fd, _names in stack:
                os.close(fd)
        return count

    @staticmethod
    def _entries(fd: int) -> list[str]:
        with os.scandir(fd) as it:
            return [entry.name for entry in it]


def _write_all(fd: int, data: bytes | bytearray) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
