"""``devbox common daemon``: keep leases and re-plumb containers (foreground)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from devbox.cli import state


def daemon(
    install: Annotated[
        bool,
        typer.Option(
            "--install",
            help="Install (and start, under systemd) the systemd unit instead of "
            "running in the foreground.",
        ),
    ] = False,
    unit_dir: Annotated[
        Path, typer.Option("--unit-dir", help="Where --install writes devbox-daemon.service.")
    ] = Path("/etc/systemd/system"),
) -> None:
    """The devbox service: serve the API (/run/devbox/devbox.sock, group devbox) through
    which every user's devbox works, watch Docker events, own every DHCP lease and re-plumb
    devbox-networked containers.

    Runs in the foreground until stopped (Ctrl-C or SIGTERM); leases stay valid and on disk,
    and the next daemon adopts them. With --install, writes a systemd unit instead.
    """
    from devbox.services import daemon as svc
    from devbox.services import daemon_control
    from devbox.state import daemon_pid

    cfg = state.config()
    ui = state.ui()
    if install:
        path, started = daemon_control.install(cfg, unit_dir)
        ui.success(f"wrote {path}" + (" and started it" if started else ""))
        if not started:
            ui.info(
                f"systemd is not running here (or --unit-dir is not the system one): "
                f"enable it later with 'systemctl enable --now {daemon_control.UNIT_NAME}'"
            )
        return
    import os

    from devbox.api.server import Service

    os.chdir("/")  # never run (nor let a job run) in root's working folder: a /opt, say

    # a plain line, not the UI's: rich (~1.6 MB) would stay loaded for as long as it runs
    typer.echo(f"devbox daemon: watching Docker events; log {daemon_pid.log_file(cfg)}", err=True)
    from devbox.services import idle_stop

    svc.run_foreground(cfg, idle_stop.alongside(Service))  # the API and the idle-stop thread
