"""``devbox registryserver gc``."""

from __future__ import annotations

from typing import Annotated

import typer

from devbox.cli import state


def gc(
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Delete unreferenced blobs: stops the registry, garbage-collects, starts it again."""
    from devbox.cli import remote

    ui = state.ui()
    result = remote.run("POST", "/registry/gc", {}, "registryserver gc")
    if as_json:
        ui.json(result)
    else:
        freed = (result["bytes_before"] - result["bytes_after"]) / 1e6
        ui.success(f"garbage-collected: {result['blobs_deleted']} blob(s), {freed:.1f} MB freed")
