"""``clone SRC --count N --hosts a,b`` / ``--hosts auto``: the client drives every host's
service (the plan, and what a failure leaves: :mod:`devbox.model.clone_hosts_plan`).

SRC's host freezes SRC once; each other host given clones gets the snapshot image (without
the base layers it holds) and the /opt snapshot once, streamed from SRC's service through
this client into its own (the SSH channels of ``--host``), and makes its share from them;
SRC's host makes its own share from the same snapshot meanwhile. Each host works in a
thread of its own, with clients of its own."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from devbox.cli import state

if TYPE_CHECKING:
    from devbox.api.client import Client
    from devbox.model.limits import Limits
    from devbox.steps import Reporter

REPORTER_CALLS = frozenset({"started", "progress", "finished", "failed", "undoing"})


@dataclass
class HostRun:
    """One host's part of the run, as it ends."""

    host: str
    names: list[str]
    spool: str = ""  # its import spool (another host)
    layers: list[str] = field(default_factory=list)
    result: dict[str, Any] | None = None  # its CloneRun, as the service said it
    error: str = ""
    sent: dict[str, int] = field(default_factory=dict)  # bytes streamed to it, per file
    send_seconds: float = 0.0


def _client(host: str) -> Client:
    from devbox.cli import remote
    from devbox.model.hosts import LOCAL

    cfg = state.config()
    return remote.local_client(cfg) if host == LOCAL else remote.host_client(host, cfg.environ)


def _events(
    board_reporter: Callable[[str], Reporter], host: str, names: set[str]
) -> tuple[Callable[[dict[str, Any]], None], dict[str, Reporter]]:
    """A job's event handler drawing into the board: a clone's stream on its own line, the
    host's other streams (freeze, receive) on a line named after the host."""
    lines: dict[str, Reporter] = {}
    lock = threading.Lock()

    def on_event(event: dict[str, Any]) -> None:
        if event.get("event") != "report" or event.get("call") not in REPORTER_CALLS:
            return
        stream = str(event.get("stream") or "")
        line = stream if stream in names else f"{host}: {stream or 'job'}"
        with lock:
            if line not in lines:
                lines[line] = board_reporter(line)
        getattr(lines[line], str(event["call"]))(*event.get("args", []))

    return on_event, lines


def _send(
    src: Client, dst: Client, export: str, spool: str, part: str, size: int, reporter: Reporter
) -> int:
    """One spooled file of SRC's export into ``dst``'s import spool, through here."""
    return src.send_file(
        dst,
        f"/exports/{export}/{part}",
        f"/imports/{spool}/{part}",
        size,
        lambda sent: reporter.progress(part, sent, size, "bytes"),
    )


def run(
    source: str,
    count: int,
    hosts_text: str,
    prefix: str | None,
    body: dict[str, Any],
    board_reporter: Callable[[str], Reporter],
    asked: Limits,
) -> dict[str, Any]:
    """The whole run (see the module); returns what the CLI shows. Refusals before anything
    is made: exit 2 (a bad --hosts, names taken, no host takes a clone) or 3 (a named host
    does not answer)."""
    from devbox.cli import remote
    from devbox.errors import NotReadyError
    from devbox.model import clone_hosts_plan as plan
    from devbox.model import clone_plan, placement
    from devbox.model.hosts import LOCAL
    from devbox.state import host_list

    t0 = time.monotonic()
    cfg = state.config()
    here = remote.current_host()
    named = plan.parse_hosts(hosts_text, host_list.load(cfg.environ))
    hosts = named if named is not None else [LOCAL, *host_list.load(cfg.environ)]
    ui = state.ui()

    def ask(api: Client) -> tuple[Any, Any, list[dict[str, Any]]]:
        return api.get("/host"), api.get("/whoami"), api.get("/containers", all=True, no_size=True)

    phases: dict[str, float] = {}
    answers = remote.on_hosts(sorted({*hosts, here}), ask)
    phases["ask the hosts"] = time.monotonic() - t0
    mine = answers[here][0]
    if mine is None:
        raise NotReadyError(f"{here} (SRC's host) does not answer: {answers[here][1]}")
    views, taken = [], {}
    for host in hosts:
        got, error = answers[host]
        if got is None and named is not None:
            raise NotReadyError(
                f"--hosts: {host} does not answer: {error}",
                hint="leave it out, or --hosts auto (the hosts that answer)",
            )
        if got is None:
            ui.info(f"--hosts auto: {host} left out ({error})")
            continue
        views.append(placement.HostView(host, got[0], got[1]))
        taken[host] = [str(r["name"]) for r in got[2]]
    src_rows = [r for r in mine[2] if r["name"] == source]
    if not src_rows:
        from devbox.errors import UserError

        raise UserError(f"no container named '{source}' on {here}")
    # each clone's memory: what is asked, else SRC's limit (a clone inherits it)
    per_clone = asked.memory or (src_rows[0].get("limits") or {}).get("memory")
    shares = placement.spread(views, count, per_clone, asked.cpus)
    names = clone_plan.clone_names(source, count, plan.union_names(taken), prefix)
    runs = [HostRun(h, n) for h, n in plan.assign(names, shares, [v.name for v in views]).items()]
    ui.info("--hosts: " + ", ".join(f"{r.host} {len(r.names)}" for r in runs))
    others = [r for r in runs if r.host != here]
    export: dict[str, Any] = {}
    mark = time.monotonic()
    try:
        for r in others:
            api = _client(r.host)
            try:
                got = api.post(
                    "/clone-imports",
                    {"source": source, "names": r.names, "image": src_rows[0].get("image", "")},
                )
            finally:
                api.close()
            r.spool, r.layers = str(got["id"]), list(got.get("layers") or [])
        phases["reserve names"], mark = time.monotonic() - mark, time.monotonic()
        if others:
            on_event, _ = _events(board_reporter, here, set())
            api = _client(here)
            try:
                export = api.stream(
                    "POST",
                    f"/containers/{quote(source)}/clone-exports",
                    {"have_layers": plan.common_layers(r.layers for r in others)},
                    on_event,
                )
            finally:
                api.close()
    except BaseException:
        _drop_imports(others)
        raise
    phases["freeze + spool"], mark = time.monotonic() - mark, time.monotonic()
    try:
        threads = [
            threading.Thread(
                target=_one,
                args=(r, here, source, body, export, board_reporter),
                name=f"clone on {r.host}",
                daemon=True,
            )
            for r in runs
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        phases["hosts at once"], mark = time.monotonic() - mark, time.monotonic()
    except BaseException:
        # Ctrl-C: the jobs under way roll back when this client goes (the services see it
        # leave); what is spooled for them goes now
        _drop_imports([r for r in others if r.result is None])
        raise
    finally:
        if export:
            _drop_export(here, str(export["id"]))
    phases["drop the export"] = time.monotonic() - mark
    out = _summary(source, runs, export, here, time.monotonic() - t0)
    out["phases"] = {k: round(v, 2) for k, v in phases.items()}
    return out


def _one(
    r: HostRun,
    here: str,
    source: str,
    body: dict[str, Any],
    export: dict[str, Any],
    board_reporter: Callable[[str], Reporter],
) -> None:
    """One host's share: SRC's host clones from the export's snapshot; another host gets
    the two files, then makes its clones. Its error is kept in ``r``, never raised."""
    from devbox.errors import DevboxError

    on_event, lines = _events(board_reporter, r.host, set(r.names))
    try:
        if r.host == here:
            api = _client(r.host)
            try:
                asked = {**body, "count": len(r.names), "names": r.names}
                if export:
                    asked["snapshot"] = export["snapshot"]
                r.result = api.stream(
                    "POST", f"/containers/{quote(source)}/clones", asked, on_event
                )
            finally:
                api.close()
            return
        src, dst = _client(here), _client(r.host)
        try:
            t0 = time.monotonic()
            line = board_reporter(f"{r.host}: send")
            line.started(1, 1, "image + /opt")
            try:
                for part, size in (("image", "image_bytes"), ("opt", "opt_bytes")):
                    r.sent[part] = _send(
                        src, dst, export["id"], r.spool, part, int(export[size]), line
                    )
                r.send_seconds = time.monotonic() - t0
                line.finished("image + /opt", r.send_seconds, f"{sum(r.sent.values())} bytes")
            except BaseException as err:
                line.failed("image + /opt", time.monotonic() - t0, str(err))
                raise
            finally:
                line.close()
            keys = {k: export[k] for k in ("snapshot", "labels", "opt", "opt_top")}
            r.result = dst.stream(
                "POST", f"/clone-imports/{r.spool}/clones", {**body, **keys}, on_event
            )
        finally:
            src.close()
            dst.close()
    except DevboxError as err:
        r.error = err.message
    except Exception as err:  # noqa: BLE001 - one host's fault is its rows, not the run's
        r.error = f"{type(err).__name__}: {err}"
    finally:
        for one in lines.values():
            one.close()
    if r.error and r.spool:
        _drop_imports([r])


def _drop_imports(runs: list[HostRun]) -> None:
    """Drop the import spools of ``runs`` (said, not raised: the first error stands)."""
    from devbox.errors import DevboxError

    for r in runs:
        if not r.spool:
            continue
        try:
            api = _client(r.host)
            try:
                api.delete(f"/imports/{r.spool}")
            finally:
                api.close()
        except DevboxError as err:
            state.ui().warning(f"{r.host}: could not drop import {r.spool}: {err.message}")


def _drop_export(here: str, spool: str) -> None:
    from devbox.errors import DevboxError

    try:
        api = _client(here)
        try:
            api.stream("DELETE", f"/clone-exports/{spool}", {}, lambda _event: None)
        finally:
            api.close()
    except DevboxError as err:
        state.ui().warning(f"{here}: could not drop export {spool}: {err.message}")


def _summary(
    source: str, runs: list[HostRun], export: dict[str, Any], here: str, seconds: float
) -> dict[str, Any]:
    clones: list[dict[str, Any]] = []
    hosts: dict[str, Any] = {}
    for r in runs:
        done = {c["name"]: c for c in (r.result or {}).get("clones") or []}
        for name in r.names:
            row = done.get(name) or {
                "name": name,
                "ok": False,
                "ip": "",
                "mac": "",
                "seconds": 0.0,
                "error": r.error or "not made",
                "hint": "",
                "log": "",
                "reach": None,
            }
            clones.append({**row, "host": r.host})
        hosts[r.host] = {
            "clones": len(r.names),
            "error": r.error,
            "snapshot": (r.result or {}).get("snapshot", ""),
            "snapshot_method": (r.result or {}).get("snapshot_method", ""),
            "seconds": round(float((r.result or {}).get("seconds") or 0.0), 2),
            "receive_seconds": round(float((r.result or {}).get("freeze_seconds") or 0.0), 2)
            if r.host != here
            else 0.0,
            "sent_bytes": dict(r.sent),
            "send_seconds": round(r.send_seconds, 2),
        }
    return {
        "source": source,
        "snapshot": export.get("snapshot")
        or next((h["snapshot"] for h in hosts.values() if h["snapshot"]), ""),
        "freeze_seconds": export.get("freeze_seconds")
        or max([float((r.result or {}).get("freeze_seconds") or 0.0) for r in runs] or [0.0]),
        "seconds": round(seconds, 2),
        "hosts": hosts,
        "clones": clones,
    }
