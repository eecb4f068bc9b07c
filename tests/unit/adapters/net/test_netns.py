"""Network namespace windows: short work inside a namespace on the process's one window
thread, which is back in the host's namespace after each (no thread per call)."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest

from devbox.errors import OperationFailed


def window_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "netns windows"]


def test_windows_share_one_thread_that_goes_back_home() -> None:
    from devbox.adapters.net import netns

    home = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        netns.window(home, lambda: None)  # the thread starts on first use
        before = threading.active_count()
        seen = {netns.window(home, lambda: threading.current_thread().name) for _ in range(50)}
        assert seen == {"netns windows"} and threading.active_count() == before
        assert netns.window("/proc/self/ns/net", lambda: 7) == 7  # by path too
        (thread,) = window_threads()
        here = os.stat(f"/proc/self/task/{thread.native_id}/ns/net")
        mine = os.stat("/proc/self/ns/net")
        assert (here.st_dev, here.st_ino) == (mine.st_dev, mine.st_ino)
        sock = netns.socket_in(home, socket.AF_NETLINK, socket.SOCK_DGRAM, 0)
        assert sock.family == socket.AF_NETLINK
        sock.close()
    finally:
        os.close(home)


def test_a_window_hands_back_errors_and_refuses_a_missing_namespace(tmp_path: Path) -> None:
    from devbox.adapters.net import netns

    def fail() -> None:
        raise ValueError("inside")

    with pytest.raises(ValueError, match="inside"):
        netns.window("/proc/self/ns/net", fail)
    with pytest.raises(OperationFailed, match="cannot enter network namespace"):
        netns.window(tmp_path / "none", lambda: None)
    assert netns.window("/proc/self/ns/net", lambda: "still serving") == "still serving"
    with pytest.raises(OperationFailed, match="cannot open network namespace"):
        netns.open_ns(tmp_path / "none")
