"""The daemon's event sources, one thread each, both only queue work for its loop.

- :func:`docker_events`: Docker's event stream (start, die, destroy of a named container), and
  a reconcile after each reconnect (bounded back-off when dockerd restarts);
- :func:`link_events`: rtnetlink link events of the host (:func:`devbox.adapters.net.link_watch.
  link_events`): a LAN parent that appears or goes up queues ``("parent", name)``, one that
  goes away or down is logged (the kernel took every macvlan on it).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

from devbox.oplog import OpLog

Tasks = queue.SimpleQueue[tuple[str, ...]]


def docker_events(tasks: Tasks, stopping: threading.Event, log: OpLog) -> None:
    from devbox.adapters.docker import net

    backoff = 0.2
    first = True
    while not stopping.is_set():
        try:
            stream = net.events()
            if not first:
                log.write("reconnected to Docker events")
                tasks.put(("reconcile",))
            else:
                log.write("watching Docker events")
            first = False
            backoff = 0.2
            for ev in stream:
                if stopping.is_set():
                    return
                action = str(ev.get("Action") or ev.get("status") or "")
                actor = ev.get("Actor") or {}
                name = str((actor.get("Attributes") or {}).get("name") or "")
                cid = str(actor.get("ID") or ev.get("id") or "")
                if action in {"start", "die", "destroy"} and name:
                    tasks.put(("event", action, name, cid))
            log.write("Docker event stream ended")
        except Exception as err:  # noqa: BLE001 - dockerd went away: retry, bounded
            if first:
                log.write(f"Docker not reachable: {err}")
            first = False
        if stopping.wait(backoff):
            return
        backoff = min(backoff * 2, 5.0)


def link_events(
    parents: Callable[[], frozenset[str]], tasks: Tasks, stopping: threading.Event, log: OpLog
) -> None:
    """Queue a reconcile when a LAN parent appears or goes up (it was gone or down)."""
    from devbox.adapters.net import link_watch, netlink

    backoff = 0.2
    while not stopping.is_set():
        try:
            up: dict[str, bool] = {}
            for name in parents():
                link = netlink.get_link(name)
                up[name] = link is not None and link.up
            events = link_watch.link_events(poll=0.5)
            try:
                for ev in events:
                    if stopping.is_set():
                        return
                    if ev is None or ev.name not in parents():
                        continue
                    now = ev.event == "new" and ev.up
                    was = up.get(ev.name, False)
                    up[ev.name] = now
                    if now and not was:
                        tasks.put(("parent", ev.name))
                    elif was and not now:
                        log.write(
                            f"LAN parent {ev.name} is "
                            f"{'gone' if ev.event == 'del' else 'down'}: its "
                            "containers lose their LAN interface until it is back"
                        )
                    backoff = 0.2
            finally:
                events.close()
        except Exception as err:  # noqa: BLE001 - events lost (ENOBUFS): listen again
            log.write(f"link events: {err}; listening again")
            tasks.put(("reconcile",))
        if stopping.wait(backoff):
            return
        backoff = min(backoff * 2, 5.0)
