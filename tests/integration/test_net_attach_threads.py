"""An attach (and a detach) starts no thread: every netlink step inside the container's
namespace goes through one socket made there in a window of the process's one window thread,
which goes straight back to the host's namespace (before: a thread and a new socket per call).

Counted, not timed: ``threading.settrace`` is called once by every thread started after it
is set (Python's own hook, nothing replaced); the window thread's namespace is read in
``/proc/self/task/TID/ns/net``.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from tests.fixtures.lab import LabEnv

pytestmark = pytest.mark.integration

T = TypeVar("T")


def started_threads(fn: Callable[[], T]) -> tuple[T, list[str]]:
    """``fn()``'s result and the names of the threads started while it ran."""
    names: list[str] = []

    def first_call(_frame: Any, _event: str, _arg: Any) -> None:
        names.append(threading.current_thread().name)
        sys.settrace(None)  # once per thread is enough

    threading.settrace(first_call)
    try:
        return fn(), names
    finally:
        threading.settrace(None)  # type: ignore[arg-type]


def same_netns(a: str, b: str) -> bool:
    sa, sb = os.stat(a), os.stat(b)
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def test_attach_and_detach_start_no_thread(lab: LabEnv, lab_container: Any) -> None:
    from devbox.adapters.net import netlink, netns
    from devbox.services import network

    cfg = lab.cfg()
    warm = lab_container()  # the process's DHCP loop, its workers, the window thread: once
    network.attach(cfg, warm.name)
    ctr = lab_container()
    att, started = started_threads(lambda: network.attach(cfg, ctr.name))
    assert att.ip, att
    assert started == [], f"attach started threads: {started}"

    # the link is in the container's namespace, with devbox's MAC; the window thread is home
    ctr.reload()
    link = netlink.get_link("lan0", netns.pid_path(ctr.attrs["State"]["Pid"]))
    assert link is not None and link.mac == att.mac and link.up
    windows = [t for t in threading.enumerate() if t.name == "netns windows"]
    assert len(windows) == 1 and windows[0].native_id is not None
    assert same_netns(f"/proc/self/task/{windows[0].native_id}/ns/net", "/proc/self/ns/net")

    again, started = started_threads(lambda: network.attach(cfg, ctr.name))  # as it is
    assert again.ip == att.ip and started == []
    gone, started = started_threads(lambda: network.detach(cfg, ctr.name))
    assert [g.ifname for g in gone] == ["lan0"] and started == []
    assert netlink.get_link("lan0", netns.pid_path(ctr.attrs["State"]["Pid"])) is None
    network.detach(cfg, warm.name)
