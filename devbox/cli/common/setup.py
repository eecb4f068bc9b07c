"""``devbox common setup``: install and configure what this host needs (root, locally)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from devbox.cli import state


def setup(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what it would do; do none of it.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
    unit_dir: Annotated[
        Path, typer.Option("--unit-dir", help="Where the service's systemd unit goes.")
    ] = Path("/etc/systemd/system"),
) -> None:
    """Set this host up for devbox (as root, once; again is harmless): the Debian packages,
    a running Docker engine, the sysctls devbox needs, the groups devbox and devbox-admin,
    and the devbox service's systemd unit (devbox common daemon --install).

    Only what is missing is done; a host already set up is left as it is. Runs here, not
    through the devbox service (it is what sets the service up).
    """
    import os

    from devbox.errors import UserError

    if os.geteuid() != 0:
        raise UserError(
            "devbox common setup installs packages and writes /etc: run it as root (sudo)"
        )
    from devbox.services import host_setup

    unit_dir = unit_dir.absolute()
    os.chdir("/")  # nothing it runs (apt-get, dockerd) starts in root's working folder
    cfg = state.config()
    ui = state.ui()
    plan = host_setup.plan(cfg, unit_dir)
    tasks = plan.tasks()
    out: dict[str, Any] = {"dry_run": dry_run, "changed": False, "steps": plan.to_json()}
    if dry_run or not plan.changes:
        if as_json:
            ui.json(out)
            return
        for task in tasks:
            lines = [f"would {item}" for item in task.todo] or [f"ok: {task.done}"]
            for line in lines:
                if dry_run:
                    ui.out.print(f"{task.step}: {line}", markup=False, soft_wrap=True)
                else:
                    ui.detail(f"{task.step}: {line}")
        if not plan.changes:
            ui.success("this host is set up for devbox: nothing to do")
        return
    from devbox.cli.ui.progress import reporter_for

    reporter = reporter_for(ui, "devbox common setup")
    try:
        result, started = host_setup.apply(cfg, plan, unit_dir, reporter)
    finally:
        reporter.close()
    out.update(changed=True, unit_started=started, notes=result.notes)
    if as_json:
        ui.json(out)
        return
    ui.success("this host is set up for devbox")
    if plan.write_unit and not started:
        from devbox.services.daemon_control import UNIT_NAME

        ui.info(
            f"systemd is not running here (or --unit-dir is not the system one): start the "
            f"service with 'systemctl enable --now {UNIT_NAME}' under systemd, or "
            f"'devbox common daemon'"
        )
    ui.info("next: usermod -aG devbox USER for each person who makes containers")
