"""``devbox containerauthor``: base images, dev images, publication."""

from __future__ import annotations

import typer

from devbox.cli.containerauthor import build_base, build_image, list_images, publish

app = typer.Typer(no_args_is_help=True, rich_markup_mode=None)
app.command("build-base")(build_base.build_base)
app.command("build-image")(build_image.build_image)
app.command("list-images")(list_images.list_images)
app.command("publish")(publish.publish)
