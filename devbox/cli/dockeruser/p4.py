"""``devbox dockeruser p4 setup``: your Perforce server and user, and a login ticket."""

from __future__ import annotations

from typing import Annotated

import typer

from devbox.cli import state

app = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode=None,
    help="Your Perforce settings: the server and user your containers' checkouts use.",
)


def _password(user: str, port: str, from_stdin: bool) -> str:
    import sys

    from devbox.errors import UserError

    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise UserError(
            f"a Perforce login is needed for {user} on {port} and there is no terminal to ask",
            hint="give the password on stdin with --password-stdin",
        )
    import getpass

    return getpass.getpass(f"Perforce password for {user} on {port}: ")


@app.command("setup")
def setup(
    port: Annotated[
        str, typer.Option("--port", help="The Perforce server (P4PORT), e.g. perforce:1666.")
    ],
    user: Annotated[str, typer.Option("--user", help="Your Perforce user (P4USER).")],
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin", help="Read the password from stdin instead of asking for it."
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Set p4.port and p4.user in your ~/.config/devbox/config.toml (other keys kept) and log
    in: the password (asked for only when there is no valid ticket) goes to the server, the
    ticket it gives back goes to your ~/.p4tickets; the password is stored nowhere.

    Runs as you, here (not through the devbox service).
    """
    from devbox.services import p4_setup

    done = p4_setup.setup(
        state.config(),
        port,
        user,
        lambda: _password(user, port, password_stdin),
    )
    ui = state.ui()
    if as_json:
        ui.json(done.to_dict())
        return
    how = "logged in" if done.login == "new ticket" else "already logged in"
    ui.success(f"{how} to {done.port} as {done.user}; p4.port and p4.user set in {done.config}")
    if done.ticket_file:
        ui.detail(f"ticket in {done.ticket_file}")
