"""Bring a devbox root up to the current layout, once per command, under a lock.

Two things, both idempotent and cheap enough to run at the start of every command that uses
the root (:func:`ensure`):

1. **Modes.** ``<root>`` itself loses group/other write (0755 or stricter); devbox's own folders
   (:data:`devbox.paths.PRIVATE`: ``containers``, ``ssh``, ``pki``, ``leases``, ``lab``, ``run``,
   ``logs``, ``snapshots``) are made, or fixed, 0700. Every devbox command runs as root, so this
   breaks nothing, and another host user can reach nothing below them: not devbox's SSH key, not
   the registry CA, not a setuid binary a tenant planted in its /opt.

2. **Per-container dirs.** Older roots kept a container's state in ``<root>/<name>/``, the same
   namespace as devbox's folders (a container called ``logs`` aliased every log). Now it lives in
   ``<root>/containers/<name>/``. A legacy dir (a real directory, not a symlink, named like a
   container but not one of :data:`devbox.paths.RESERVED`, holding a ``state.json``, ``opt``,
   ``clone.json`` or ``checkout.json``) is moved there with one ``rename`` -- **only when no
   container of that name exists and nothing is mounted under it**. The rule is about safety:
   a container that exists has the old ``<root>/<name>/opt`` path in its HostConfig binds (and,
   for a clone, an overlay mounted there); after a move dockerd would, on its next start, make
   an empty directory at the old path and the container would boot with an empty /opt. So an
   existing container keeps its legacy dir where its docker config says, with no symlink
   (nothing may point into a tree a container controls): devbox reads its ``state.json`` from
   there (:func:`record_dir`) until it is removed; ``remove-dev-container`` removes the
   container first, then moves its dir (unmounting a legacy clone overlay first, see
   :func:`adopt_legacy`), so ``--purge`` and "kept /opt" act on ``containers/<name>``. New
   containers are always made under ``containers/``. Where the legacy dir and a new one both
   hold an entry, the new one wins for ``state.json`` (devbox writes only the new one, merged
   with the legacy content) and the legacy entry is left in place (nothing is deleted).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from devbox.locks import try_flock
from devbox.oplog import NULL_LOG, OpLog
from devbox.paths import RESERVED, Layout
from devbox.waits import poll

LEGACY_MARKERS = ("state.json", "opt", "clone.json", "checkout.json")
LOCK_WAIT = 10.0


def ensure(layout: Layout, container_exists: Callable[[str], bool] | None = None) -> list[str]:
    """Fix modes, then move every legacy per-container dir that is safe to move. Returns the
    names moved. ``container_exists(name)`` (default: ask Docker) says whether a container of
    that name exists."""
    fix_modes(layout)
    legacy = legacy_names(layout)
    if not legacy:
        return []
    exists = container_exists or _docker_has
    moved = []
    with _lock(layout) as locked:
        if not locked:
            return []
        for name in legacy_names(layout):
            if exists(name):
                continue
            if _move(layout, name):
                moved.append(name)
    return moved


def fix_modes(layout: Layout) -> None:
    root = layout.root
    root.mkdir(parents=True, exist_ok=True, mode=0o755)
    st = root.stat()
    if stat.S_IMODE(st.st_mode) & 0o022:
        os.chmod(root, stat.S_IMODE(st.st_mode) & ~0o022)
    for path in layout.private_dirs():
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        try:
            info = path.lstat()
        except FileNotFoundError:
            continue
        if stat.S_ISDIR(info.st_mode) and stat.S_IMODE(info.st_mode) != 0o700:
            os.chmod(path, 0o700)


def legacy_names(layout: Layout) -> list[str]:
    """Names with a legacy per-container dir directly under ``<root>``."""
    from devbox.errors import UserError
    from devbox.model.naming import validate_name

    out = []
    try:
        entries = list(os.scandir(layout.root))
    except FileNotFoundError:
        return []
    for entry in entries:
        if entry.name in RESERVED or not entry.is_dir(follow_symlinks=False):
            continue
        try:
            validate_name(entry.name)
        except UserError:
            continue
        if _is_legacy_dir(Path(entry.path)):
            out.append(entry.name)
    return sorted(out)


def record_dir(layout: Layout, name: str) -> Path:
    """Where ``name``'s own record (state.json, clone and checkout records) is: the
    ``containers/`` dir, or a legacy dir left in place for a container that still exists."""
    new = layout.container_dir(name)
    if name in RESERVED or os.path.lexists(new):
        return new
    old = layout.legacy_container_dir(name)
    return old if _is_legacy_dir(old) else new


def has_legacy(layout: Layout, name: str) -> bool:
    return name not in RESERVED and _is_legacy_dir(layout.legacy_container_dir(name))


def adopt_legacy(layout: Layout, name: str) -> bool:
    """After ``name``'s container is gone: move its legacy dir into ``containers/`` (unmounting
    a legacy clone's /opt overlay first). False when there was none or it could not move."""
    if not has_legacy(layout, name):
        return False
    from devbox.adapters.host import mounts

    old = layout.legacy_container_dir(name)
    if (old / "clone.json").is_file() and mounts.is_mounted(old / "opt"):
        mounts.unmount(old / "opt")
    with _lock(layout) as locked:
        return bool(locked) and _move(layout, name)


# ---------------------------------------------------------------- helpers


def _is_legacy_dir(path: Path) -> bool:
    try:
        if not stat.S_ISDIR(path.lstat().st_mode):
            return False
    except OSError:
        return False
    return any(os.path.lexists(path / marker) for marker in LEGACY_MARKERS)


def _mounted_under(path: Path) -> bool:
    from devbox.adapters.host import mounts

    prefix = str(path).rstrip("/") + "/"
    return any(m.target == str(path) or m.target.startswith(prefix) for m in mounts.mounts())


def _move(layout: Layout, name: str) -> bool:
    old = layout.legacy_container_dir(name)
    if not _is_legacy_dir(old) or _mounted_under(old):
        return False
    new = layout.container_dir(name)
    layout.containers.mkdir(mode=0o700, exist_ok=True)
    if not os.path.lexists(new):
        os.rename(old, new)
        return True
    # both exist (devbox wrote the new state.json while the container lived): move what the
    # new dir lacks; the new state.json wins; nothing else is deleted
    for entry in os.scandir(old):
        target = new / entry.name
        if os.path.lexists(target):
            if entry.name == "state.json":
                os.unlink(entry.path)
            continue
        os.rename(entry.path, target)
    try:
        os.rmdir(old)
    except OSError:
        pass
    return True


def _docker_has(name: str) -> bool:
    from devbox.adapters.docker import containers as dc

    return dc.inspect(name) is not None


class _lock:
    """``flock`` on ``<root>/run/locks/migrate.lock`` (bounded wait); yields whether held."""

    def __init__(self, layout: Layout) -> None:
        self.path = layout.locks / "migrate.lock"
        self.fd: int | None = None

    def __enter__(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        if not poll(lambda: try_flock(fd), LOCK_WAIT, 0.05):
            os.close(fd)
            return False
        self.fd = fd
        return True

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def protect_store(layout: Layout, log: OpLog = NULL_LOG) -> None:
    """Make ``<root>/containers`` a ``nosuid,nodev`` mount of its own (a bind onto itself):
    a set-uid file or a device node a tenant makes in its /opt is then worth nothing on the
    host, and, since a bind takes the flags of the mount it comes from, nothing inside the
    container either. Called before a container's /opt is bound (make, clone, start, the
    daemon's start); a no-op once it holds until the next reboot."""
    from devbox.adapters.host import mounts

    layout.containers.mkdir(parents=True, exist_ok=True, mode=0o700)
    mounts.ensure_nosuid(layout.containers, log)
