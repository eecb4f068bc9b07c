"""The ``devbox`` command: one sub-app per role plus ``common``.

Commands are thin: they read flags, call one service function and render the result.
Heavy libraries (docker, pyroute2, paramiko, rich tables) are imported inside commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from devbox import __version__
from devbox.cli.clickcompat import Command

HELP = """devbox: full-VM-style dev containers on your LAN in seconds.

Each container gets its own interface, MAC and IP on the LAN (or on the built-in lab LAN),
systemd, sshd and /opt from the host. Start with 'devbox common lab up' and 'devbox common doctor'.
"""


def _version(value: bool) -> None:
    if value:
        print(f"devbox {__version__}")
        raise typer.Exit()


def _root_callback(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    verbose: Annotated[
        int, typer.Option("-v", "--verbose", count=True, help="More output (repeat for more).")
    ] = 0,
    root: Annotated[
        Path | None,
        typer.Option("--root", help="Override the 'root' setting (default /opt/containers)."),
    ] = None,
    host: Annotated[
        str | None,
        typer.Option(
            "--host",
            help="Send the command to that host's devbox service over SSH (a name from "
            "'devbox common hosts list'; also DEVBOX_HOST).",
        ),
    ] = None,
) -> None:
    from devbox.cli import state
    from devbox.cli.ui.console import configure

    configure(verbose=verbose, debug=debug)
    state.set_global_overrides(root, host)


def build_app() -> typer.Typer:
    from devbox.cli.common import app as common_app
    from devbox.cli.containerauthor import app as author_app
    from devbox.cli.dockeruser import app as user_app
    from devbox.cli.dockeruser import register_top_level
    from devbox.cli.registryserver import app as registry_app

    app = typer.Typer(
        help=HELP,
        no_args_is_help=True,
        add_completion=True,  # --install-completion / --show-completion (bash, zsh, fish)
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback()(_root_callback)
    for sub, name, purpose in (
        (user_app, "dockeruser", "Make, start, list, clone and remove your dev containers."),
        (author_app, "containerauthor", "Build base images and dev images; publish them."),
        (registry_app, "registryserver", "Run the company's private Docker registry."),
        (common_app, "common", "Lab LAN, container networking, host checks, config, daemon."),
    ):
        if sub.registered_commands or sub.registered_groups:
            app.add_typer(sub, name=name, help=purpose, short_help=purpose)
    register_top_level(app)
    return app


def build_command() -> Command:
    return typer.main.get_command(build_app())
