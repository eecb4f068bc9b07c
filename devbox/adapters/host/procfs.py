"""Host facts read from /proc: kernel limits and what processes hold."""

from __future__ import annotations

import os
from pathlib import Path

from devbox.model.capacity import InotifyRoom
from devbox.model.limits import HostSize

PROC = Path("/proc")


def read_int(path: Path, default: int = 0) -> int:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return default


def _real_uid(pid: str) -> int | None:
    try:
        with open(PROC / pid / "status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Uid:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def catches(pid: int, signum: int) -> bool:
    """Whether process ``pid`` has a handler for signal ``signum`` now (``SigCgt`` in its
    status): sending it one it does not catch would end it. False when it is gone."""
    try:
        with open(PROC / str(pid) / "status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    except (OSError, ValueError, IndexError):
        return False
    return False


def inotify_instances(uid: int = 0) -> int:
    """inotify instances held by processes of real user ``uid`` (the kernel charges them to
    that user), counted by open descriptor (one inherited by a child counts twice: rare)."""
    count = 0
    for entry in os.scandir(PROC):
        if not entry.name.isdigit() or _real_uid(entry.name) != uid:
            continue
        fd_dir = PROC / entry.name / "fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd_dir / fd) == "anon_inode:inotify":
                    count += 1
            except OSError:
                continue
    return count


def inotify_room() -> InotifyRoom:
    limit = read_int(PROC / "sys/fs/inotify/max_user_instances", default=128)
    return InotifyRoom(limit=limit, used=inotify_instances(0))


def host_size() -> HostSize:
    """The host's memory (MemTotal) and the CPUs this process may run on."""
    memory = 0
    try:
        with open(PROC / "meminfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    memory = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        memory = 0
    try:
        cpus = len(os.sched_getaffinity(0))
    except OSError:
        cpus = os.cpu_count() or 1
    return HostSize(memory=memory, cpus=cpus)
