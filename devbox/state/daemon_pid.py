"""Whether the devbox daemon runs: its pid file and lock."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import TYPE_CHECKING

from devbox.config import Config
from devbox.paths import Layout

if TYPE_CHECKING:
    pass


def pid_file(cfg: Config) -> Path:
    return Layout(cfg.root).run / "daemon.pid"


def lock_file(cfg: Config) -> Path:
    return Layout(cfg.root).run / "daemon.lock"


def log_file(cfg: Config) -> Path:
    return Layout(cfg.root).logs / "daemon.log"


def running_pid(cfg: Config) -> int | None:
    """PID of the daemon serving this root, or None. The daemon holds ``daemon.lock``."""
    path = lock_file(cfg)
    if not path.exists():
        return None
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            pass  # held: a daemon runs
        else:
            return None
    finally:
        os.close(fd)
    try:
        text = pid_file(cfg).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
