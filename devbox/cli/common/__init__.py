"""``devbox common``: the lab LAN, container networking, doctor, config and the daemon."""

from __future__ import annotations

import typer

from devbox.cli.common import config_cmd, doctor
from devbox.cli.common import daemon as daemon_cmd
from devbox.cli.common import dial_stdio as dial_cmd
from devbox.cli.common import hosts as hosts_cmd
from devbox.cli.common import lab as lab_cmd
from devbox.cli.common import net as net_cmd
from devbox.cli.common import setup as setup_cmd

app = typer.Typer(no_args_is_help=True, rich_markup_mode=None)
config_app = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode=None,
    help="Show devbox settings and where each value came from.",
)
config_app.command("show")(config_cmd.show)
app.add_typer(
    config_app, name="config", help="Show devbox settings and where each value came from."
)
app.command("doctor")(doctor.doctor)
app.add_typer(
    lab_cmd.app,
    name="lab",
    help="The built-in lab LAN: DHCP server in a network "
    "namespace; its uplink is the default macvlan parent.",
)
app.add_typer(
    net_cmd.app,
    name="net",
    help="Give containers their own LAN interface, MAC and "
    "IP (macvlan + DHCP or static): the pipework replacement.",
)
app.command("daemon")(daemon_cmd.daemon)
app.add_typer(
    hosts_cmd.app,
    name="hosts",
    help="Other hosts' devbox services, reached over SSH with --host NAME.",
)
app.command("dial-stdio")(dial_cmd.dial_stdio)
app.command("setup")(setup_cmd.setup)
