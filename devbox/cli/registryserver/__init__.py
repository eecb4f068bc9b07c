"""``devbox registryserver``: the private registry."""

from __future__ import annotations

import typer

from devbox.cli.registryserver import gc, status, up, user

app = typer.Typer(no_args_is_help=True, rich_markup_mode=None)
app.command("up")(up.up)
app.command("down")(up.down)
app.command("status")(status.status)
app.command("gc")(gc.gc)
app.add_typer(user.app, name="user", help="Add or remove registry users (htpasswd, bcrypt).")
