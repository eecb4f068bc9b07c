"""``devbox containerauthor publish``."""

from __future__ import annotations

from typing import Annotated

import typer

from devbox.cli import state


def publish(
    name: Annotated[str, typer.Argument(help="Image to push, e.g. dev (devbox/dev:latest).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Push a devbox image to the private registry (registry.address, or the one this host
    serves), with per-layer progress. Log the engine in first: devbox registryserver user add.
    For admins."""
    from urllib.parse import quote

    from devbox.cli import remote

    ui = state.ui()
    result = remote.run("POST", f"/images/{quote(name, safe='')}/push", {}, f"publish {name}")
    if as_json:
        ui.json(result)
    else:
        ui.success(
            f"pushed {result['ref']} ({result['digest']}, {result['layers']} layers) "
            f"in {result['seconds']:.1f}s"
        )
