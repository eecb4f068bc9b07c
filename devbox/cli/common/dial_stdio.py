"""``devbox common dial-stdio``: what ``devbox --host NAME`` runs over SSH on that host."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from devbox.cli import state


def dial_stdio(
    socket: Annotated[
        Path | None,
        typer.Option(
            "--socket",
            help="The devbox service's socket (default: the one of this host's devbox root).",
        ),
    ] = None,
) -> None:
    """Join stdin and stdout to this host's devbox service socket (as 'docker system
    dial-stdio' does), until either side closes. 'devbox --host NAME ...' on another machine
    runs it over SSH; the service sees the SSH user as the caller. Runs no shell, sends
    nothing of its own."""
    from devbox.api import dial_stdio as relay
    from devbox.api import protocol

    if socket is None:
        cfg = state.config()
        socket = protocol.socket_path(cfg.root, cfg.text("service.socket"))
    relay.relay(relay.open_socket(socket))
