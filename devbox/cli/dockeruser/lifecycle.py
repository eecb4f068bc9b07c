"""``start-dev-container``, ``stop``, ``remove-dev-container``."""

from __future__ import annotations

from typing import Annotated

import typer

from devbox.cli import state
from devbox.cli.completion import complete_container
from devbox.cli.dockeruser.make import render_summary


def start_dev_container(
    name: Annotated[
        str, typer.Argument(help="Container to start.", autocompletion=complete_container)
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Start a stopped dev container and wait until it has its (same) IP and sshd answers."""
    from devbox.cli import remote
    from devbox.model.container_plan import MakeResult

    data = remote.run("POST", f"/containers/{_path(name)}/start", {}, f"start {name}")
    render_summary(MakeResult.from_dict(data), as_json, "container")


def stop(
    name: Annotated[
        str, typer.Argument(help="Container to stop.", autocompletion=complete_container)
    ],
) -> None:
    """Stop a dev container cleanly (systemd shuts down; the lease is kept for the restart)."""
    from devbox.cli import remote

    remote.run("POST", f"/containers/{_path(name)}/stop", {}, f"stop {name}")
    state.ui().success(f"stopped {name}")


def remove_dev_container(
    name: Annotated[
        str | None, typer.Argument(help="Container to remove.", autocompletion=complete_container)
    ] = None,
    clones_of: Annotated[
        str | None,
        typer.Option(
            "--clones-of",
            help="Remove every clone of this container instead (their overlays, "
            "upper layers, and the snapshot once unused).",
        ),
    ] = None,
    purge: Annotated[
        bool,
        typer.Option(
            "--purge",
            help="Also delete its /opt tree on the host (your data!) and its snapshots.",
        ),
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="Remove even if its Perforce workspace has opened files."),
    ] = False,
) -> None:
    """Remove a dev container: release its lease, remove it, its interface and SSH config entry.
    Its /opt and its snapshots (images and /opt copies) stay on the host unless --purge."""
    from devbox.cli import remote

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
    from devbox.errors import UserError

    try:
        result = remote.run(
            "DELETE",
            f"/containers/{_path(name)}",
            {"purge": purge, "force": force},
            f"remove {name}",
        )
    except UserError as err:
        if "no container named" in err.message:  # gone already (a remove killed half-way):
            _forget_ssh(name)  # the entry this client writes goes too
        raise
    _forget_ssh(name)
    if result.get("purged"):
        state.ui().success(f"removed {name} and its /opt")
    else:
        kept = f"; /opt kept at {result['opt_kept']}" if result.get("opt_kept") else ""
        state.ui().success(f"removed {name}{kept}")


def _path(name: str) -> str:
    from devbox.model.naming import validate_name

    validate_name(name)
    return name


def _forget_ssh(name: str) -> None:
    from devbox.api import client_ssh

    client_ssh.forget(name)


def _remove_clones(source: str, name: str | None, yes: bool) -> None:
    from devbox.cli import remote
    from devbox.errors import ExitCode, UserError

    if name is not None:
        raise UserError("give either NAME or --clones-of, not both")
    rows = remote.client().get("/containers", all=True, no_size=True)
    names = [r["name"] for r in rows if r.get("clone_of") == source]
    if not yes and names:
        if not typer.confirm(
            f"Remove {len(names)} clone(s) of {source} ({', '.join(names)}) "
            "and what they wrote in /opt?",
            default=False,
        ):
            raise typer.Abort()
    result = remote.run(
        "DELETE", f"/containers/{_path(source)}/clones", {}, f"remove clones of {source}"
    )
    ui = state.ui()
    if not result["removed"] and not result["failed"]:
        ui.info(f"{source} has no clones")
    for removed in result["removed"]:
        _forget_ssh(removed)
        ui.success(f"removed {removed}")
    for snap in result["snapshots_removed"]:
        ui.success(f"removed snapshot {snap}")
    for failed, error in result["failed"].items():
        ui.error(f"{failed}: {error}")
    if result["failed"]:
        raise typer.Exit(int(ExitCode.FAILED))
