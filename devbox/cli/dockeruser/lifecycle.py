"""``start-dev-container``, ``stop``, ``remove-dev-container``."""

from __future__ import annotations

from typing import Annotated

import typer

from devbox.cli import state
from devbox.cli.dockeruser.make import render_summary


def start_dev_container(
    name: Annotated[str, typer.Argument(help="Container to start.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Start a stopped dev container and wait until it has its (same) IP and sshd answers."""
    from devbox.cli.ui.progress import reporter_for
    from devbox.services import container_lifecycle

    result = container_lifecycle.start(
        state.config(), name, reporter_for(state.ui(), f"start {name}")
    )
    render_summary(result, as_json, "container")


def stop(name: Annotated[str, typer.Argument(help="Container to stop.")]) -> None:
    """Stop a dev container cleanly (systemd shuts down; the lease is kept for the restart)."""
    from devbox.services import container_lifecycle

    container_lifecycle.stop(state.config(), name)
    state.ui().success(f"stopped {name}")


def remove_dev_container(
    name: Annotated[str | None, typer.Argument(help="Container to remove.")] = None,
    clones_of: Annotated[
        str | None,
        typer.Option(
            "--clones-of",
            help="Remove every clone of this container instead (their overlays, "
            "upper layers, and the snapshot once unused).",
        ),
    ] = None,
    purge: Annotated[
        bool, typer.Option("--purge", help="Also delete its /opt tree on the host (your data!).")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="Remove even if its Perforce workspace has opened files."),
    ] = False,
) -> None:
    """Remove a dev container: release its lease, remove it, its interface and SSH config entry.
    Its /opt stays on the host unless --purge."""
    from devbox.services import container_lifecycle

    cfg = state.config()
    if clones_of is not None:
        _remove_clones(clones_of, name, yes)
        return
    if name is None:
        from devbox.errors import UserError

        raise UserError("which container?", hint="remove-dev-container NAME, or --clones-of SRC")
    if not yes:
        what = "and DELETE its /opt" if purge else "(its /opt is kept)"
        if not typer.confirm(f"Remove container {name} {what}?", default=False):
            raise typer.Abort()
    result = container_lifecycle.remove(cfg, name, purge=purge, force=force)
    if result.purged:
        state.ui().success(f"removed {name} and its /opt")
    else:
        kept = f"; /opt kept at {result.opt_kept}" if result.opt_kept else ""
        state.ui().success(f"removed {name}{kept}")


def _remove_clones(source: str, name: str | None, yes: bool) -> None:
    from devbox.errors import ExitCode, UserError
    from devbox.services import clone
    from devbox.state import clone_records

    if name is not None:
        raise UserError("give either NAME or --clones-of, not both")
    cfg = state.config()
    names = clone_records.clones_of(source)
    if not yes and names:
        if not typer.confirm(
            f"Remove {len(names)} clone(s) of {source} ({', '.join(names)}) "
            "and what they wrote in /opt?",
            default=False,
        ):
            raise typer.Abort()
    result = clone.remove_clones(cfg, source)
    ui = state.ui()
    if not result.removed and not result.failed:
        ui.info(f"{source} has no clones")
    for removed in result.removed:
        ui.success(f"removed {removed}")
    for snap in result.snapshots_removed:
        ui.success(f"removed snapshot {snap}")
    for failed, error in result.failed.items():
        ui.error(f"{failed}: {error}")
    if result.failed:
        raise typer.Exit(int(ExitCode.FAILED))
