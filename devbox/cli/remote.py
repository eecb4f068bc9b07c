"""The CLI as a client of the operations (devbox.api.operations): through the devbox
service's socket for users, in this process for root; a job's events shown with the same
rich progress as in-process work had."""

from __future__ import annotations

import base64
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from devbox.cli import state

if TYPE_CHECKING:
    from devbox.api.client import Client
    from devbox.api.local import LocalClient
    from devbox.steps import Reporter


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
