"""Idle stop: the service stops a container that has been idle for ``idle_stop_after``.

A thread of the service (started next to the API: :func:`alongside`) looks every ``TICK``
seconds at this root's running devbox containers: the CPU time of each one's cgroup, the
established SSH connections to it in its network namespace's socket table (both
the host kernel's, :mod:`devbox.adapters.host.activity`; nothing from inside the container),
and whether a devbox command holds it. :mod:`devbox.model.idle_plan` decides; a container due
is stopped with :func:`devbox.services.container_lifecycle.stop` (what ``stop-dev-container``
does) and the audit log gets a line (user ``devbox-service``, command ``idle-stop``). The
bookkeeping is :mod:`devbox.state.idle_records` (what ``list-containers`` shows as
``idle_seconds``); what a restart of the service does with it is said in
:mod:`devbox.model.idle_plan`.

Only the service's own settings count (``idle_stop_after``, ``idle_cpu_percent``): a user's
request cannot change them. A tenant can keep its own container up (an SSH session to it, a
busy loop): idle stop saves resources, it is not a limit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from devbox import jsonfile
from devbox.adapters.docker import containers as dc
from devbox.adapters.host import activity, cgroupfs
from devbox.config import Config
from devbox.errors import DevboxError
from devbox.locks import is_held
from devbox.model import idle_plan, labels
from devbox.model.container_plan import same_root
from devbox.oplog import OpLog
from devbox.paths import Layout
from devbox.services import container_lifecycle
from devbox.services.daemon import Served
from devbox.state import audit_log, idle_records

TICK = 10.0
SERVICE_USER = "devbox-service"


def settings(cfg: Config) -> idle_plan.Settings:
    return idle_plan.Settings(
        after=idle_plan.parse_duration(cfg.text("idle_stop_after")),
        cpu_percent=cfg.number("idle_cpu_percent"),
    )


class IdleStop:
    """The idle-stop thread of one service (``start``/``stop``, as the daemon's ``Served``)."""

    def __init__(self, cfg: Config, log: OpLog) -> None:
        self.cfg = cfg
        self.log = log
        self.layout = Layout(cfg.root)
        self.settings = settings(cfg)
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None
        self.tracks: dict[str, idle_plan.Track] = {}
        self.last_tick: float | None = None  # monotonic; None: no tick of this process yet
        self._said = ""

    def start(self) -> None:
        if self.settings.after is None:
            idle_records.clear(self.layout)  # off: nothing tracked, nothing shown
            return
        try:
            self.tracks = dict(idle_records.load(self.layout).tracks)
        except jsonfile.CorruptRecord as err:
            self.log.write(f"idle stop: {err.message}; starting from nothing")
        self.log.write(
            f"idle stop: after {self.cfg.text('idle_stop_after')} without SSH sessions and "
            f"under {self.settings.cpu_percent:g}% CPU"
        )
        self.thread = threading.Thread(target=self._loop, name="idle stop", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        if self.thread is not None:
            # a stop of a container in flight may take dockerd's 20 s: not waited for (the
            # engine finishes it; the thread dies with the process)
            self.thread.join(timeout=2.0)

    def _loop(self) -> None:
        while not self.stopping.wait(TICK):
            try:
                self.tick()
                self._said = ""
            except Exception as err:  # noqa: BLE001 - dockerd away, a disk full: next tick
                text = str(err)
                if text != self._said:  # once per distinct trouble, not every 10 s
                    self.log.write(f"idle stop: {text}")
                    self._said = text

    # ---- one tick -------------------------------------------------------------------------
    def tick(self) -> list[str]:
        """Sample, decide, save, stop what is due; the names stopped."""
        samples = [self._sample(st) for st in self._running()]
        now = time.monotonic()
        seconds = None if self.last_tick is None else now - self.last_tick
        self.last_tick = now
        plan = idle_plan.plan(self.tracks, samples, seconds, self.settings)
        self.tracks = dict(plan.tracks)
        idle_records.save(self.layout, idle_records.IdleState(time.time(), self.tracks))
        stopped = []
        for name in plan.stop:
            if self.stopping.is_set():
                break
            if self._stop(name):
                stopped.append(name)
                self.tracks.pop(name, None)
        if stopped:
            idle_records.save(self.layout, idle_records.IdleState(time.time(), self.tracks))
        return stopped

    def _running(self) -> list[dc.ContainerState]:
        return [
            st
            for st in dc.list_labeled(labels.ROLE, all_states=False)
            if st.status == "running" and same_root(st.labels.get(labels.ROOT, ""), self.cfg.root)
        ]

    def _sessions(self, st: dc.ContainerState) -> int | None:
        tables = activity.tcp_tables(st.pid)
        if tables is None:
            return None  # no socket table (it just stopped): cannot tell
        return sum(idle_plan.ssh_sessions(t) for t in tables)

    def _sample(self, st: dc.ContainerState) -> idle_plan.Sample:
        return idle_plan.Sample(
            name=st.name,
            id=st.id,
            started_at=st.started_at,
            cpu_usec=activity.cpu_usec(st.name, cgroupfs.mode()),
            sessions=self._sessions(st),
            busy=is_held(self.layout.locks, "name", st.name),
            keep_running=labels.keeps_running(st.labels),
        )

    def _stop(self, name: str) -> bool:
        track = self.tracks.get(name)
        idle = int(track.idle_seconds) if track else 0
        st = dc.inspect(name)
        if st is None or not st.running or (track is not None and st.id != track.id):
            return False
        if (self._sessions(st) or 0) > 0:  # someone logged in since the sample: not now
            return False
        t0 = time.monotonic()
        record: dict[str, object] = {
            "user": SERVICE_USER,
            "uid": 0,
            "command": "idle-stop",
            "target": name,
            "args": {
                "idle_seconds": idle,
                "idle_stop_after": self.cfg.text("idle_stop_after"),
                "idle_cpu_percent": self.settings.cpu_percent,
            },
        }
        try:
            container_lifecycle.stop(self.cfg, name)
        except DevboxError as err:
            record.update(result="error", exit=int(err.exit_code), error=err.message)
            self.log.write(f"idle stop: could not stop {name}: {err.message}")
        else:
            record.update(result="ok", exit=0)
            self.log.write(f"idle stop: stopped {name} (idle for {idle} s)")
        record["seconds"] = round(time.monotonic() - t0, 3)
        try:
            audit_log.append(self.layout, record)
        except OSError as err:
            self.log.write(f"audit log: cannot append: {err}")
        return record["result"] == "ok"


def alongside(serve: Callable[[Config, OpLog], Served]) -> Callable[[Config, OpLog], Served]:
    """What the daemon serves: ``serve`` (the API) and the idle-stop thread next to it."""

    class Both:
        def __init__(self, cfg: Config, log: OpLog) -> None:
            self.api = serve(cfg, log)
            self.idle = IdleStop(cfg, log)

        def start(self) -> None:
            self.api.start()
            self.idle.start()

        def stop(self) -> None:
            self.idle.stop()
            self.api.stop()

    return Both
