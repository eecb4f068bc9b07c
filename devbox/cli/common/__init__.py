"""``devbox common``: the lab LAN, container networking, doctor, config and the daemon."""

from __future__ import annotations

import typer

from devbox.cli.common import config_cmd, doctor

app = typer.Typer(no_args_is_help=True, rich_markup_mode=None)
config_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                         help="Show devbox settings and where each value came from.")
config_app.command("show")(config_cmd.show)
app.add_typer(config_app, name="config",
              help="Show devbox settings and where each value came from.")
app.command("doctor")(doctor.doctor)
