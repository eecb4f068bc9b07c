"""A clone's source is never left paused (issue 12).

A clone pauses its source (cgroup freezer) while it commits it and snapshots its /opt. Before
pausing, the freeze holds the ``freeze`` lock of the source (:mod:`devbox.locks`: the kernel
drops it when the process dies, even by kill -9) and writes a marker,
``Layout.paused_marker(name)`` (``<root>/run/paused/<name>.json``: pid, time, container id);
it removes the marker once the source runs again.

A marker whose freeze lock nobody holds was left by a freeze that died: :func:`resume_abandoned`
unpauses that container (if it is paused, and is still the container the marker names) and
drops the marker. It runs before the next devbox command on that container, in the daemon (on
start and in every reconcile) and in every freeze. A container paused by a person
(``docker pause``: no marker) is never touched.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote

from devbox import jsonfile, locks
from devbox.config import Config
from devbox.errors import DevboxError, UserError
from devbox.oplog import OpLog
from devbox.paths import Layout

KIND = "freeze"
WAIT = 30.0  # another clone's freeze of the same source lasts seconds: wait for it


def _lock(layout: Layout, name: str) -> Path:
    return locks.lock_path(layout.locks, KIND, name)


def _say(layout: Layout, name: str, message: str, log: OpLog | None) -> None:
    with OpLog(layout.container_log(name)) as own:
        own.write(message)
    if log is not None:
        log.write(message)


@contextmanager
def frozen(cfg: Config, name: str, running: bool, log: OpLog | None = None) -> Iterator[None]:
    """Hold ``name`` paused for the block (when it is running), under its freeze lock and
    with its marker on disk. A marker left by a freeze that died is dealt with first."""
    from devbox.adapters.docker import containers as dc
    from devbox.adapters.docker import snapshots

    layout = Layout(cfg.root)

    def busy(_fd: int) -> DevboxError:
        return UserError(
            f"another devbox clone is freezing {name}", hint="wait for it to finish, then try again"
        )

    with locks.hold(_lock(layout, name), WAIT, busy):
        _resume_locked(layout, name, log)
        st = dc.inspect(name) if running else None
        if st is None or not running:
            yield
            return
        if st.status == "paused":
            raise UserError(
                f"{name} is paused, and not by devbox",
                hint=f"docker unpause {name}, then clone again",
            )
        marker = layout.paused_marker(name)
        jsonfile.write_json(
            marker,
            {"container": name, "container_id": st.id, "pid": os.getpid(), "at": time.time()},
        )
        try:
            with snapshots.paused(name, True):
                yield
        except BaseException:
            # the unpause itself may have failed: then the marker stays for the next command
            after = dc.inspect(name)
            if after is None or after.status != "paused":
                marker.unlink(missing_ok=True)
            raise
        marker.unlink(missing_ok=True)


def resume_abandoned(cfg: Config, name: str, log: OpLog | None = None) -> bool:
    """If a freeze that died left ``name`` paused (its marker, its lock free): unpause it and
    drop the marker. Returns whether it was unpaused. A freeze still running is left alone."""
    layout = Layout(cfg.root)
    if not os.path.lexists(layout.paused_marker(name)):
        return False  # the common case: one stat
    fd = locks.try_hold(_lock(layout, name))
    if fd is None:
        return False  # a live freeze holds it paused for a moment
    try:
        return _resume_locked(layout, name, log)
    finally:
        os.close(fd)


def resume_all(cfg: Config, log: OpLog | None = None) -> list[str]:
    """:func:`resume_abandoned` for every marker of this root; the names unpaused."""
    layout = Layout(cfg.root)
    if not layout.paused.is_dir():
        return []
    done = []
    for path in sorted(layout.paused.glob("*.json")):
        name = unquote(path.name[: -len(".json")])
        try:
            if resume_abandoned(cfg, name, log):
                done.append(name)
        except DevboxError as err:
            if log is not None:
                log.write(f"{name}: could not resume it: {err.message}")
    return done


def _resume_locked(layout: Layout, name: str, log: OpLog | None) -> bool:
    """Under ``name``'s freeze lock: deal with a marker a dead freeze left."""
    from devbox.adapters.docker import containers as dc
    from devbox.adapters.docker import snapshots

    marker = layout.paused_marker(name)
    if not os.path.lexists(marker):
        return False
    try:
        rec = jsonfile.read_json(marker)
    except jsonfile.CorruptRecord as err:
        rec = {}  # devbox wrote it before pausing: the pause is still devbox's
        _say(layout, name, f"{err.message}; taking it as a freeze that died", log)
    st = dc.inspect(name)
    resumed = False
    wanted = str(rec.get("container_id") or "")
    if st is not None and st.status == "paused" and (not wanted or wanted == st.id):
        snapshots.unpause(name)
        resumed = True
        _say(
            layout,
            name,
            f"{name} was left paused by a freeze that died (pid "
            f"{rec.get('pid', '?')}); unpaused it",
            log,
        )
    marker.unlink(missing_ok=True)
    return resumed
