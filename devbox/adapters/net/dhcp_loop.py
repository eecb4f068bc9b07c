"""One asyncio event loop per process for every DHCP client of that process.

pyroute2's DHCP client is asyncio already, so a process keeps all its leases (the service holds
every lease of the host) on one thread, however many there are: the thread count does not grow
with the leases (issue 17; before, one thread with its own loop per lease).

A network namespace is per thread, and a socket keeps the namespace it was created in. So
every socket of a DHCP session (its raw DHCP socket, which sends its ARP announcements too,
and the netlink sockets of its hooks) is created inside :meth:`DhcpLoop.inside`: the loop thread
``setns(2)``-es into the container's namespace, creates the socket and goes back to the
host's namespace at once. That window is synchronous code (no ``await`` in it), so no other
coroutine of the loop ever runs while the thread is in another namespace, and no lock is
needed. Should the way back ever fail, the loop is marked broken: nothing more is created on
it, and :func:`shared` starts a new loop for new sessions (whose thread enters the process's
own namespace first).

A few more threads, the workers (:data:`LANES`, :meth:`DhcpLoop.later`; each session's work in
order on one of them), do what blocks and must not hold up the loop: synced files (resolv.conf,
the caller's lease record) and closing the sessions' raw sockets (closing a packet socket waits
for an RCU grace period, ~10 ms; the workers' waits overlap).
Once a burst of that work is over (``TRIM_AFTER`` seconds with nothing more), it gives the freed
heap back to the kernel (:func:`devbox.adapters.host.memory.trim`): a burst of leases (the
service's start-up adopting every one, 50 clones bound at once) leaves garbage that would
otherwise stay resident for as long as the service runs.

Both are daemon threads; a forked child (a job) starts its own loop when it needs one
(:func:`shared` checks the PID).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ctypes
import logging
import os
import queue
import threading
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from devbox.adapters.host import memory
from devbox.adapters.net import netns as nsmod
from devbox.adapters.net.per_process import PerProcess
from devbox.errors import OperationFailed

LOG = logging.getLogger(__name__)
T = TypeVar("T")
TRIM_AFTER = 2.0  # seconds of no work on the worker after which freed memory goes back
LANES = 4  # worker threads (a session's work stays in order on one): fixed, not per lease


class DhcpLoop:
    """One thread running one asyncio loop; sessions are coroutines submitted to it."""

    def __init__(self) -> None:
        self.broken = False
        self.trims = 0  # how often the worker gave freed memory back (after a burst)
        self._loop = asyncio.new_event_loop()
        self._tasks: set[asyncio.Task[None]] = set()  # what spawn() started, until it ends
        # the process's own namespace (its main thread's: devbox never moves a thread it keeps
        # using): the loop thread works in it and comes back to it after each window
        self._home = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dhcp loop", daemon=True)
        self._thread.start()
        self._started.wait(10)
        self._lanes: list[queue.SimpleQueue[tuple[Callable[..., object], tuple[Any, ...]]]]
        self._lanes = [queue.SimpleQueue() for _ in range(LANES)]
        self._work = self._lanes[0]
        self._workers = [
            threading.Thread(target=self._work_all, args=(lane,), name="dhcp work", daemon=True)
            for lane in self._lanes
        ]
        self._worker = self._workers[0]
        for worker in self._workers:
            worker.start()

    def later(self, fn: Callable[..., object], *args: Any) -> None:
        """Call ``fn(*args)`` on a worker thread, in the order asked for the same owner (the
        session whose method ``fn`` is): what blocks (a synced file) and must not hold up the
        loop serving every session. Owners spread over :data:`LANES` workers: 20 sessions bound
        at once wrote their synced files one after the other on one worker (~20 ms each)."""
        self._lanes[self.lane_of(fn)].put((fn, args))

    @staticmethod
    def lane_of(fn: Callable[..., object]) -> int:
        """The worker ``later(fn, ...)`` runs on: the one of ``fn``'s owner (``__self__``)."""
        return hash((id(getattr(fn, "__self__", None)),)) % LANES  # ids are 16-byte aligned

    def close_later(self, fd: int) -> None:
        """Close ``fd`` on a worker: closing a packet socket waits for an RCU grace period
        (~10 ms; the workers' waits overlap)."""
        self._lanes[fd % LANES].put((os.close, (fd,)))

    def _work_all(
        self, work: queue.SimpleQueue[tuple[Callable[..., object], tuple[Any, ...]]]
    ) -> None:
        worked = False  # since the last trim
        while True:
            try:
                fn, args = work.get(timeout=TRIM_AFTER if worked else None)
            except queue.Empty:  # the burst is over
                worked = False
                memory.trim()
                self.trims += 1
                continue
            worked = True
            try:
                fn(*args)
            except Exception as err:  # noqa: BLE001 - the worker serves every session
                LOG.error("DHCP loop worker: %s: %r", getattr(fn, "__name__", fn), err)

    def _run(self) -> None:
        try:
            _setns_fd(self._home)
        except OSError as err:
            self.broken = True
            LOG.critical("DHCP loop: cannot enter the host's namespace: %r", err)
        asyncio.set_event_loop(self._loop)
        self._loop.call_soon(self._started.set)
        self._loop.run_forever()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def on_loop_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def on_own_thread(self) -> bool:
        """On the loop's thread or its worker's (where waiting for a session deadlocks)."""
        return threading.current_thread() in (self._thread, *self._workers)

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run ``coro`` on the loop (from any thread)."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` on the loop as a task of its own (from any thread), with no
        ``concurrent.futures.Future`` for its end (``submit``'s: a Condition, a deque and the
        callbacks, kept for as long as a session holds its lease): ``coro`` reports itself."""
        self._loop.call_soon_threadsafe(self._start_task, coro)

    def _start_task(self, coro: Coroutine[Any, Any, None]) -> None:
        task = self._loop.create_task(coro)
        self._tasks.add(task)  # the loop keeps only a weak reference to a task
        task.add_done_callback(self._tasks.discard)

    def call_soon(self, fn: Any, *args: Any) -> None:
        """Call ``fn(*args)`` on the loop thread (from any thread); nothing when it is closed."""
        try:
            self._loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop is closed
            pass

    @contextmanager
    def inside(self, netns: Path | str | int) -> Iterator[None]:
        """Run the body (synchronous: never an ``await`` in it) on the loop thread inside the
        network namespace ``netns`` (a path, or an open fd of one); sockets made in it stay
        there. Back home after it."""
        if not self.on_loop_thread():
            raise RuntimeError("DhcpLoop.inside is for the loop thread only")
        if self.broken:
            raise OperationFailed("the DHCP loop could not return to the host's namespace")
        try:
            if isinstance(netns, int):
                _setns_fd(netns)
            else:
                nsmod.setns_current_thread(netns)
        except OSError as err:
            raise OperationFailed(
                f"cannot enter network namespace {netns}: {err.strerror or err}"
            ) from err
        try:
            yield
        finally:
            try:
                _setns_fd(self._home)
            except OSError as err:
                self.broken = True
                LOG.critical("DHCP loop: cannot go back to the host's namespace: %r", err)


def _setns_fd(fd: int) -> None:
    if _libc().setns(fd, nsmod.CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


@cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


_SHARED = PerProcess(DhcpLoop)


def shared() -> DhcpLoop:
    """The process's DHCP loop, started on first use (again after a fork, or when broken)."""
    return _SHARED.get()
