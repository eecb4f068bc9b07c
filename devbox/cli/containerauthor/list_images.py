"""``devbox containerauthor list-images``."""

from __future__ import annotations

from typing import Annotated

import typer

from devbox.cli import state


def list_images(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List local devbox images (base/* and devbox/*) with their build labels."""
    from devbox.cli import remote

    rows = remote.client().get("/images")
    ui = state.ui()
    if as_json:
        ui.json(rows)
        return
    ui.table(
        "devbox images",
        ["kind", "name", "tags", "id", "built", "size MB"],
        [
            [
                r["kind"],
                r["name"],
                " ".join(r["tags"]) or "<untagged>",
                r["id"][7:19],
                r["built"],
                r["size_mb"],
            ]
            for r in rows
        ],
    )
