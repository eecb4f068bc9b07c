"""Per-name locks so two commands never work on one container at once.

A lock is an ``flock`` on ``<root>/run/locks/<name>.lock``: the kernel drops it when the holder
dies (even by kill -9), so a crashed make never blocks the next one.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from devbox.errors import UserError


@contextmanager
def name_lock(lock_dir: Path, name: str, action: str = "working on") -> Iterator[None]:
    lock_dir.mkdir(parents=True, exist_ok=True)
    path = lock_dir / f"{name}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise UserError(f"another devbox command is already {action} '{name}' (pid {holder})",
                            hint="wait for it to finish, then try again") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)
