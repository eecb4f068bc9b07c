"""``devbox dockeruser prune-combos``."""

from __future__ import annotations

from typing import Annotated

import typer

from devbox.cli import state


def prune_combos(
    stopped_for: Annotated[
        str,
        typer.Option(
            "--stopped-for",
            help="Remove combos stopped and not started for this long (30d, 12h, 2w, 1w3d).",
        ),
    ] = "30d",
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    purge: Annotated[
        bool, typer.Option("--purge", help="Also delete their /opt trees on the host.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only list what would be removed.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Remove product/patch combo containers nobody started for a while (running ones are
    never touched): your own; an admin's: everyone's. Their /opt stays on the host unless
    --purge.

    Example: devbox dockeruser prune-combos --stopped-for 30d --yes
    """
    from devbox.cli import remote
    from devbox.model.clone_plan import format_duration, parse_duration

    seconds = parse_duration(stopped_for)
    ui = state.ui()
    # the combos this caller may prune (their own; an admin's: all)
    names: list[str] = remote.client().get("/combos/stale", stopped_for=seconds)["candidates"]
    if not names or dry_run:
        if as_json:
            ui.json({"candidates": names, "removed": [], "opt_kept": [], "failed": {}})
        elif names:
            ui.info("would remove: " + ", ".join(names))
        else:
            ui.info(f"no combo has been stopped for {format_duration(seconds)} or more")
        return
    if not yes:
        what = "and DELETE their /opt" if purge else "(their /opt is kept)"
        if not typer.confirm(
            f"Remove {len(names)} combo(s): {', '.join(names)} {what}?", default=False
        ):
            raise typer.Abort()
    body = {"names": names, "stopped_for": seconds, "purge": purge}
    result = remote.run("POST", "/combos/prune", body, "prune-combos")
    if as_json:
        ui.json(result)
    else:
        for name in result["removed"]:
            ui.success(f"removed {name}")
        for name, error in result["failed"].items():
            ui.error(f"{name}: {error}")
    if result["failed"]:
        from devbox.errors import ExitCode

        raise typer.Exit(int(ExitCode.FAILED))
