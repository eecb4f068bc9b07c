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
    serves), with per-layer progress. Log the engine in first: devbox registryserver user add."""
    from devbox.cli.ui.progress import reporter_for
    from devbox.services import images

    ui = state.ui()
    result = images.publish(state.config(), name, reporter=reporter_for(ui, f"publish {name}"))
    if as_json:
        ui.json(result.to_dict())
    else:
        ui.success(
            f"pushed {result.ref} ({result.digest}, {result.layers} layers) "
            f"in {result.seconds:.1f}s"
        )
