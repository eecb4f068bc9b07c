"""Every ``flock`` devbox takes, named so that no two kinds of lock can collide.

A lock is an ``flock`` on ``<root>/run/locks/<kind>/<name>.lock`` (the name %-escaped, so any
string is one file and two names are never one file): the kernel drops it when the holder dies
(even by kill -9), so a crashed make never blocks the next one. Kinds:

- ``name``: a command working on a container (make, start, stop, remove, clone);
- ``net``: plumbing or unplumbing a container's LAN interfaces;
- ``owner``: whoever runs the DHCP client of one interface (a lease record key).
- ``freeze``: a clone holding its source paused (:mod:`devbox.services.pause_guard`);
- ``record``: one read-change-write of a lease record (:meth:`LeaseStore.update`).

A container named ``net-foo`` and the network of ``foo`` are two different files.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from devbox.errors import DevboxError, UserError
from devbox.waits import wait_until

KINDS = ("name", "net", "owner", "freeze", "lab", "record")
POLL = 0.05


def lock_path(lock_dir: Path, kind: str, name: str) -> Path:
    """The lock file of ``name`` among the locks of ``kind`` (one directory per kind)."""
    if kind not in KINDS:
        raise ValueError(f"unknown lock kind {kind!r}")
    return lock_dir / kind / f"{quote(name, safe='')}.lock"


def _open(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)


@contextmanager
def hold(path: Path, timeout: float, busy: Callable[[int], DevboxError]) -> Iterator[int]:
    """Hold an exclusive flock on ``path``, waiting at most ``timeout`` seconds; else raise
    ``busy(fd)`` (the fd lets it read what the holder wrote). Yields the lock's fd."""
    fd = _open(path)
    try:
        wait_until(lambda: try_flock(fd), timeout, POLL, str(path), error=lambda: busy(fd))
        yield fd
    finally:
        os.close(fd)


def try_flock(fd: int) -> bool:
    """Take an exclusive flock on ``fd`` now; False when someone else holds it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def try_hold(path: Path) -> int | None:
    """Take the lock on ``path`` now and return its fd (close it to let go); None if taken."""
    fd = _open(path)
    if not try_flock(fd):
        os.close(fd)
        return None
    return fd


def is_held(lock_dir: Path, kind: str, name: str) -> bool:
    """Whether someone (another process, or another open of it here) holds that lock."""
    path = lock_path(lock_dir, kind, name)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


@contextmanager
def name_lock(lock_dir: Path, name: str, action: str = "working on") -> Iterator[None]:
    """One command at a time on ``name``; a second one fails at once with the holder's pid."""
    with exclusive(lock_dir, "name", name, f"{action} '{name}'"):
        yield


@contextmanager
def exclusive(lock_dir: Path, kind: str, name: str, doing: str) -> Iterator[None]:
    """Hold ``name``'s lock of ``kind`` with this pid in it; held already: a UserError at once,
    "another devbox command is already ``doing`` (pid N)"."""

    def busy(fd: int) -> DevboxError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        return UserError(
            f"another devbox command is already {doing} (pid {holder})",
            hint="wait for it to finish, then try again",
        )

    with hold(lock_path(lock_dir, kind, name), 0.0, busy) as fd:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
