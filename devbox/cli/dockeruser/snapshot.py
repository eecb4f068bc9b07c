"""``snapshot``, ``snapshots``, ``restore``, ``snapshot-remove``: go back to an earlier state
of a dev container (its root filesystem and its /opt together)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from devbox.cli import state
from devbox.cli.completion import complete_container

Name = Annotated[str, typer.Argument(help="The container.", autocompletion=complete_container)]
Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _path(name: str) -> str:
    from devbox.model.naming import validate_name

    validate_name(name)
    return name


def _tag(tag: str) -> str:
    from devbox.model.snapshot_plan import validate_tag

    return validate_tag(tag)


def snapshot(
    name: Name,
    tag: Annotated[
        str | None,
        typer.Option("--tag", "-t", help="Its name (default: the time, 20261201-181500)."),
    ] = None,
    as_json: Json = False,
) -> None:
    """Snapshot a container: its root filesystem (docker commit) and its /opt (a reflink copy
    where the filesystem shares blocks, else a copy), the container paused just for that.
    Its owner or an admin only. Snapshots live as long as the container:
    'remove-dev-container --purge' removes them; without --purge they are kept, as /opt is."""
    from devbox.cli import remote

    body: dict[str, Any] = {"tag": _tag(tag) if tag is not None else None}
    data = remote.run("POST", f"/containers/{_path(name)}/snapshots", body, f"snapshot {name}")
    if as_json:
        state.ui().json(data)
        return
    state.ui().success(f"snapshot {data['tag']} of {name} (/opt by {data['method']})")


def snapshots(
    name: Name,
    as_json: Json = False,
    no_size: Annotated[bool, typer.Option("--no-size", help="Skip measuring /opt.")] = False,
) -> None:
    """A container's snapshots: tag, when, size of its /opt copy, image id."""
    from devbox.cli import remote
    from devbox.model.snapshot_plan import COLUMNS, cells

    rows: list[dict[str, Any]] = remote.client().get(
        f"/containers/{_path(name)}/snapshots", no_size=no_size
    )
    if as_json:
        state.ui().json(rows)
        return
    state.ui().table(None, COLUMNS, [cells(r) for r in rows])


def restore(
    name: Name,
    tag: Annotated[str, typer.Argument(help="The snapshot (see 'snapshots NAME').")],
    as_json: Json = False,
) -> None:
    """Put a container back to a snapshot: root filesystem and /opt, the same name, MAC and
    IP. What it replaces is kept as snapshot before-restore-<time> (remove it with
    snapshot-remove). A failure half-way puts everything back as it was."""
    from devbox.cli import remote

    body = {"tag": _tag(tag)}
    data = remote.run("POST", f"/containers/{_path(name)}/restore", body, f"restore {name}")
    if as_json:
        state.ui().json(data)
        return
    state.ui().success(f"restored {name} to {tag}; the state before is snapshot {data['kept']}")


def snapshot_remove(
    name: Name,
    tag: Annotated[str, typer.Argument(help="The snapshot to remove.")],
    as_json: Json = False,
) -> None:
    """Remove one snapshot: its image and its /opt copy (never the container's own /opt)."""
    from devbox.cli import remote

    path = f"/containers/{_path(name)}/snapshots/{_tag(tag)}"
    data = remote.run("DELETE", path, {}, f"remove snapshot {tag} of {name}")
    if as_json:
        state.ui().json(data)
        return
    state.ui().success(f"removed snapshot {tag} of {name}")
