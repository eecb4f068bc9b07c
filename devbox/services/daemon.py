"""``devbox common daemon``: owns every lease and re-plumbs containers on every start.

One process (pid file and lock under ``<root>/run/``). A thread follows Docker's event stream
(and reconnects, bounded back-off, when dockerd restarts); one worker thread applies what
happens, so a container is never handled twice at once:

- start of a container with a record: plumb again (same MAC, the persisted lease re-requested,
  so the same address comes back);
- die: stop its DHCP client (no release; the lease waits for its next start);
- destroy: DHCPRELEASE from a throw-away netns, forget the record.

On SIGUSR1 it does what commands asked (:mod:`devbox.state.daemon_requests`): lets go of the
leases detaches asked for (one record read each, nothing asked of Docker) and takes over those
attaches recorded (one container's pass each). On start-up, on SIGHUP, after a reconnect and
every ``RECONCILE_EVERY`` seconds it reconciles records with Docker
(:mod:`devbox.services.daemon_reconcile`): it adopts running containers' leases (a REQUEST for
the persisted lease, no new discovery), re-plumbs restarted ones, cleans up containers removed
while it was down and resumes a clone source a killed freeze left paused.

A second thread follows rtnetlink link events of the host (:mod:`devbox.services.daemon_watch`):
when a LAN parent (the lab uplink, the configured NIC, any parent a record names) goes away the
kernel deletes every macvlan on it, those inside containers too; when it is back (appears, or
goes up) the daemon reconciles at once, so every running container on it gets its interface
back -- same MAC, the held lease requested again, no restart. While a parent is gone, its
containers wait for it (logged once), instead of failing a re-plumb every sweep.

Every lease it holds is a DHCP client on the process's one DHCP event loop
(:mod:`devbox.adapters.net.dhcp_loop`): its threads do not grow with its leases.

This module is the process: lock and pid file, signals, the task queue and its loop.
"""

from __future__ import annotations

import fcntl
import os
import queue
import signal
import threading
import time
from collections.abc import Callable
from typing import Protocol

from devbox.config import Config
from devbox.errors import DevboxError, NotReadyError
from devbox.oplog import OpLog
from devbox.paths import Layout
from devbox.services import clone_storage, daemon_watch
from devbox.services.daemon_reconcile import Reconciler
from devbox.state.daemon_pid import lock_file, log_file, pid_file, running_pid

RECONCILE_EVERY = 15.0


class Served(Protocol):
    """What the daemon serves besides its own loop (the API server of devbox.api)."""

    def start(self) -> None: ...
    def stop(self) -> None: ...


class Daemon:
    def __init__(self, cfg: Config, serve: Callable[[Config, OpLog], Served] | None = None) -> None:
        from devbox.services import nic

        self.cfg = cfg
        self.log = OpLog(log_file(cfg))
        self.rec = Reconciler(cfg, nic.store(cfg), self.log)
        # SimpleQueue: its put() is reentrant, so the signal handlers below may call it even
        # when the signal lands while the main thread is inside put() (a Queue deadlocks there:
        # a burst of SIGHUPs from commands notifying the daemon once hung it for good)
        self.tasks: queue.SimpleQueue[tuple[str, ...]] = queue.SimpleQueue()
        self._stop_requested = False
        self.stopping = threading.Event()
        self._lock_fd: int | None = None
        self.serve = serve
        self.api: Served | None = None

    # --- lifecycle ------------------------------------------------------------------------

    def _acquire(self) -> None:
        path = lock_file(self.cfg)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise NotReadyError(
                f"a devbox daemon already runs for {self.cfg.root} (pid {running_pid(self.cfg)})",
                hint="stop it first, or use it as is",
            ) from None
        self._lock_fd = fd
        from devbox import jsonfile

        jsonfile.write_text(pid_file(self.cfg), f"{os.getpid()}\n")  # never seen half-written

    def _release(self) -> None:
        pid_file(self.cfg).unlink(missing_ok=True)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def run(self, ready: threading.Event | None = None) -> None:
        self._acquire()
        try:
            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGHUP, lambda *_: self.tasks.put(("reconcile",)))
                # a detach's or an attach's request (devbox.state.daemon_requests): just those
                signal.signal(signal.SIGUSR1, lambda *_: self.tasks.put(("requests",)))
                # handlers only set a flag and put on the (reentrant) queue: no lock is taken
                # in a handler; the loop below sees the flag before any queued work
                signal.signal(signal.SIGTERM, lambda *_: self._request_stop())
                signal.signal(signal.SIGINT, lambda *_: self._request_stop())
            self.log.write(f"daemon started (pid {os.getpid()}, root {self.cfg.root})")
            self.rec.safe(self._migrate)
            if self.serve is not None:
                self.api = self.serve(self.cfg, self.log)
                self.api.start()  # the REST API on the unix socket (devbox.api.server)
            self.rec.safe(self._restore_lab)
            self.rec.safe(lambda: clone_storage.restore_after_reboot(self.cfg, self.log))
            watcher = threading.Thread(
                target=daemon_watch.docker_events,
                args=(self.tasks, self.stopping, self.log),
                name="docker events",
                daemon=True,
            )
            watcher.start()
            links = threading.Thread(
                target=daemon_watch.link_events,
                args=(lambda: self.rec.parents, self.tasks, self.stopping, self.log),
                name="link events",
                daemon=True,
            )
            links.start()
            self.rec.safe(self.rec.reconcile)
            if ready is not None:
                ready.set()
            next_reconcile = time.monotonic() + RECONCILE_EVERY
            while not self.stopping.is_set():
                try:
                    task = self.tasks.get(timeout=max(0.1, next_reconcile - time.monotonic()))
                except queue.Empty:
                    task = ("reconcile",)
                if task[0] == "stop" or self._stop_requested:
                    self.stopping.set()
                    break
                if task[0] in ("reconcile", "parent"):
                    # a burst of notifications (20 clones) queues many: this one run covers
                    # every one already queued; the events among them follow, in order
                    later = _drain(self.tasks)
                    if any(t[0] == "stop" for t in later) or self._stop_requested:
                        self.stopping.set()
                        break
                    next_reconcile = time.monotonic() + RECONCILE_EVERY
                    if not lock_file(self.cfg).exists():
                        # <root> was removed under us (a deleted test root): nothing to keep
                        self.log.write(f"{self.cfg.root} is gone; stopping")
                        break
                    for other in [task, *later]:
                        if other[0] == "parent":
                            self.log.write(
                                f"LAN parent {other[1]} is up again: plumbing the containers on it"
                            )
                    self.rec.safe(self.rec.reconcile)
                    for other in later:
                        if other[0] == "event":
                            self._event(other)
                elif task[0] == "event":
                    self._event(task)
                elif task[0] == "requests":
                    self.rec.safe(self.rec.release_requested)
                    self.rec.safe(self.rec.adopt_requested)
        finally:
            if self.api is not None:
                self.api.stop()
            for key in list(self.rec.held):
                self.rec.let_go(key)
            self.log.write("daemon stopped; leases stay valid and on disk")
            self._release()

    def _migrate(self) -> None:
        from devbox.state import migrate

        layout = Layout(self.cfg.root)
        moved = migrate.ensure(layout)
        if moved:
            self.log.write(f"moved {', '.join(moved)} into {layout.containers}")
        try:
            migrate.protect_store(layout, self.log)
        except DevboxError as err:
            self.log.write(f"could not make {layout.containers} nosuid,nodev: {err}")

    def _restore_lab(self) -> None:
        """After a host reboot the lab's namespace, veth and dnsmasq are gone but its state
        file is not: bring the lab back (it was up and never taken down) before re-plumbing."""
        from devbox.model.lab_plan import plan
        from devbox.services import lab

        if plan(self.cfg).state_file.exists() and not lab.is_up(self.cfg):
            lab.up(self.cfg)
            self.log.write(f"lab LAN {self.cfg['lab.name']} was down; brought it back up")

    def _event(self, task: tuple[str, ...]) -> None:
        _, action, name, cid = task
        self.rec.safe(lambda: self.rec.on_event(action, name, cid))

    def _request_stop(self) -> None:
        """From a signal handler: a plain assignment and a reentrant put."""
        self._stop_requested = True
        self.tasks.put(("stop",))


def _drain(tasks: queue.SimpleQueue[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """Every task queued right now, in order (bounded: new ones may keep arriving)."""
    out: list[tuple[str, ...]] = []
    for _ in range(10_000):
        try:
            out.append(tasks.get_nowait())
        except queue.Empty:
            break
    return out


def run_foreground(cfg: Config, serve: Callable[[Config, OpLog], Served] | None = None) -> None:
    from devbox.adapters.host import memory

    # the service keeps what it imports for as long as it runs: docker without paramiko
    # (jobs have it: the forkserver), pyroute2 without its __init__'s every part (issue 17)
    memory.lean_imports()
    Daemon(cfg, serve).run()
