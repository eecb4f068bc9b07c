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


def test_later_runs_two_sessions_work_at_once_and_each_in_order() -> None:
    """Two sessions' blocking work (a synced file each) overlaps: each job waits for the other
    to have started (on one worker, the second waited for the first: 20 binds at once wrote
    their files one after the other); one owner's jobs still run in the order asked."""
    from devbox.adapters.net import dhcp_loop

    dloop = dhcp_loop.shared()

    class Owner:
        def __init__(self) -> None:
            self.started = threading.Event()
            self.done: list[tuple[int, bool]] = []
            self.other: Owner | None = None

        def work(self, step: int) -> None:
            self.started.set()
            assert self.other is not None
            self.done.append((step, self.other.started.wait(5)))

    first = Owner()
    candidates = [Owner() for _ in range(100)]  # all alive: no id is reused among them
    second = next(o for o in candidates if dloop.lane_of(o.work) != dloop.lane_of(first.work))
    first.other, second.other = second, first
    for step in range(3):
        dloop.later(first.work, step)
    dloop.later(second.work, 0)
    from devbox.waits import poll

    assert poll(lambda: len(first.done) == 3 and len(second.done) == 1, 10.0, 0.01)
    assert first.done == [(0, True), (1, True), (2, True)]
    assert second.done == [(0, True)]


def test_freed_memory_goes_back_once_a_burst_of_work_is_over() -> None:
    """After a burst of work (binds: synced files) the worker calls malloc_trim, once nothing
    more has come for TRIM_AFTER seconds."""
    from devbox.adapters.net import dhcp_loop
    from devbox.waits import poll

    dloop = dhcp_loop.shared()
    before = dloop.trims
    done: list[int] = []
    for step in range(5):
        dloop.later(done.append, step)
    assert poll(lambda: len(done) == 5 and dloop.trims > before, 10 * dhcp_loop.TRIM_AFTER, 0.05)


def test_spawn_runs_a_coroutine_on_the_loop_with_nothing_kept_after_it() -> None:
    """A session's coroutine runs as a task of the loop with no concurrent.futures.Future
    for its end (``submit``'s: a Condition and a deque, kept as long as the lease is held);
    the loop holds the task while it runs (asyncio itself only a weak reference), then
    lets it go."""
    import gc
    from concurrent.futures import Future

    from devbox.adapters.net import dhcp_loop

    dloop = dhcp_loop.shared()
    ran: list[str] = []
    gate = asyncio.Event()

    async def session() -> None:
        ran.append(threading.current_thread().name)
        await gate.wait()

    futures_before = sum(isinstance(o, Future) for o in gc.get_objects())
    for _ in range(20):
        dloop.spawn(session())
    assert dloop.submit(asyncio.sleep(0)).result(5) is None  # all 20 started before it
    assert ran == ["dhcp loop"] * 20 and len(dloop._tasks) == 20
    gc.collect()
    assert sum(isinstance(o, Future) for o in gc.get_objects()) <= futures_before
    dloop.call_soon(gate.set)
    from devbox.waits import poll

    assert poll(lambda: not dloop._tasks, 5, 0.01)
