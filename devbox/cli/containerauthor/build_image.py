"""``devbox containerauthor build-image``."""

from __future__ import annotations

from typing import Annotated

import typer

from devbox.cli import state
from devbox.cli.options import JsonOpt


def build_image(
    name: Annotated[
        str,
        typer.Argument(
            help="Image to build: a directory of roles/containerauthor/images/ (dev, os, ...)."
        ),
    ],
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Build even if the inputs are unchanged (Docker's layer cache still applies).",
        ),
    ] = False,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Do not use Docker's layer cache.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Build a devbox image (devbox/NAME:latest) from its image.toml and templates/Dockerfile.j2.

    The base image it names must exist (devbox containerauthor build-base). Build output goes to
    the log (<root>/logs/devbox.log). For admins.
    """
    from devbox.cli import remote

    ui = state.ui()
    body = {"name": name, "force": force, "no_cache": no_cache}
    result = remote.run("POST", "/images", body, f"build-image {name}")
    if as_json:
        ui.json(result)
    elif result["skipped"]:
        ui.success(
            f"{result['tag']} is up to date ({result['image_id'][:19]}); use --force to rebuild"
        )
    else:
        note = "" if result["netwait"] else " (without the network-wait helper)"
        ui.success(
            f"built {', '.join(result['tags'])} ({result['image_id'][:19]}) in "
            f"{result['seconds']:.1f}s{note}"
        )
