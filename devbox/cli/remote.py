"""The CLI as a client of the devbox service: where its socket is, starting it for root
when none runs, and showing a job's streamed events with the same rich progress as
in-process work had."""

from __future__ import annotations

import base64
import os
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from devbox.cli import state

if TYPE_CHECKING:
    from devbox.api.client import Client
    from devbox.api.local import LocalClient
    from devbox.steps import Reporter

START_TIMEOUT = 20.0


def client() -> Client | LocalClient:
    """How this CLI reaches the operations: root calls them in this process (its settings,
    as before); everyone else through the devbox service's socket."""
    from devbox.api import protocol
    from devbox.api.client import Client

    cfg = state.config()
    if os.geteuid() == 0:
        from devbox.api.local import LocalClient

        return LocalClient(cfg)
    path = protocol.socket_path(cfg.root, str(cfg["service.socket"]))
    return Client(path, group=str(cfg["service.group"]))


def service_client() -> Client:
    """A client of this root's service over its socket; root's CLI starts the service when
    none runs."""
    from devbox.api import protocol
    from devbox.api.client import Client
    from devbox.errors import NotReadyError

    cfg = state.config()
    path = protocol.socket_path(cfg.root, str(cfg["service.socket"]))
    found = Client(path, group=str(cfg["service.group"]))
    if os.geteuid() != 0:
        return found
    try:
        found.get("/version")
        return found
    except NotReadyError:
        pass
    from devbox.services import daemon_control

    daemon_control.ensure_running(cfg)
    deadline = time.monotonic() + START_TIMEOUT
    while True:  # the daemon writes its pid before its socket is in place
        try:
            found.get("/version")
            return found
        except NotReadyError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def public_keys() -> list[str]:
    """The caller's public keys (``~/.ssh/id_*.pub``), for their containers' dev account."""
    from pathlib import Path

    ssh_dir = Path(os.environ.get("HOME") or Path.home()) / ".ssh"
    out = []
    for path in sorted(ssh_dir.glob("id_*.pub")):
        try:
            out.append(path.read_text())
        except OSError:
            continue
    return out


def run(
    method: str,
    path: str,
    body: dict[str, Any] | None,
    title: str,
    reporter_for: Callable[[str], Reporter] | None = None,
) -> Any:
    """A job through the service: its progress drawn here, its result returned, its error
    raised (with the service's exit code). Ctrl-C cancels it; its undo is shown as it runs."""
    from devbox.cli.ui.progress import reporter_for as default_reporter

    ui = state.ui()
    reporters: dict[str, Reporter] = {}

    def reporter(stream: str) -> Reporter:
        if stream not in reporters:
            reporters[stream] = (
                reporter_for(stream) if reporter_for else default_reporter(ui, stream or title)
            )
        return reporters[stream]

    def on_event(event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "report":
            call = str(event.get("call"))
            if call == "close":
                return
            getattr(reporter(str(event.get("stream") or "")), call)(*event.get("args", []))
        elif kind == "output":
            sys.stdout.buffer.write(base64.b64decode(event.get("data", "")))
            sys.stdout.flush()
        elif kind == "message":
            (ui.warning if event.get("level") == "warning" else ui.info)(str(event.get("text")))

    def interrupted(job: str) -> None:
        ui.info("devbox: cancelling; the service rolls back what this command made")

    try:
        return client().stream(method, path, body, on_event, on_interrupt=interrupted)
    finally:
        for one in reporters.values():
            one.close()
