"""The process's one DHCP loop: every session a coroutine on one thread."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from devbox.errors import OperationFailed


def loop_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "dhcp loop" and t.is_alive())


def test_many_coroutines_share_one_thread() -> None:
    from devbox.adapters.net import dhcp_loop

    dloop = dhcp_loop.shared()
    assert dhcp_loop.shared() is dloop
    before = threading.active_count()
    names: set[str] = set()
    gate = asyncio.Event()

    async def session() -> None:
        names.add(threading.current_thread().name)
        await gate.wait()

    futures = [dloop.submit(session()) for _ in range(50)]
    dloop.call_soon(lambda: None)  # after all 50 have started waiting
    assert dloop.submit(asyncio.sleep(0)).result(5) is None
    assert threading.active_count() == before  # 50 sessions, no thread more
    dloop.call_soon(gate.set)
    for fut in futures:
        fut.result(5)
    assert names == {"dhcp loop"} and loop_threads() == 1


def test_inside_is_for_the_loop_thread_and_reports_a_missing_namespace(tmp_path: Path) -> None:
    from devbox.adapters.net import dhcp_loop

    dloop = dhcp_loop.shared()
    with pytest.raises(RuntimeError):
        with dloop.inside(tmp_path / "none"):
            pass

    async def enter() -> str:
        try:
            with dloop.inside(tmp_path / "none"):
                return "entered"
        except OperationFailed as err:
            return err.message

    message = dloop.submit(enter()).result(5)
    assert "cannot enter network namespace" in message and not dloop.broken


def test_close_later_closes_off_the_loop(tmp_path: Path) -> None:
    import os

    from devbox.adapters.net import dhcp_loop

    fd = os.open(tmp_path, os.O_RDONLY)
    dhcp_loop.shared().close_later(fd)
    from devbox.waits import poll

    def closed() -> bool:
        try:
            os.fstat(fd)
        except OSError:
            return True
        return False

    assert poll(closed, 5.0, 0.01)
