"""The host capacity check against the real kernel: inotify instances root holds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_inotify_instances_are_counted() -> None:
    """The capacity check counts the inotify instances root holds: opening more in this process
    raises the count by that many."""
    import ctypes

    from devbox.adapters.host import procfs

    if os.geteuid() != 0:
        pytest.fail("counts root's instances: run as root", pytrace=False)
    libc = ctypes.CDLL(None, use_errno=True)
    before = procfs.inotify_instances(0)
    fds = [libc.inotify_init1(os.O_CLOEXEC) for _ in range(3)]
    try:
        assert all(fd >= 0 for fd in fds)
        assert procfs.inotify_instances(0) - before >= 3
        room = procfs.inotify_room()
        assert room.limit == int(Path("/proc/sys/fs/inotify/max_user_instances").read_text())
    finally:
        for fd in fds:
            os.close(fd)
