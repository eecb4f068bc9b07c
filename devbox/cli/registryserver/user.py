"""``devbox registryserver user add|remove``."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from devbox.cli import state
from devbox.cli.options import JsonOpt

app = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode=None,
    help="Add or remove registry users (htpasswd, bcrypt).",
)


def _read_password(user: str, from_stdin: bool) -> str:
    from devbox.errors import UserError

    if from_stdin or not sys.stdin.isatty():
        line = sys.stdin.readline()
        password = line.rstrip("\r\n")
        if not password:
            raise UserError(
                "no password on stdin",
                hint="echo the password into the command, or run it on a terminal to be asked",
            )
        return password
    import getpass

    first = getpass.getpass(f"password for {user}: ")
    second = getpass.getpass("again: ")
    if first != second:
        raise UserError("the passwords differ")
    return first


@app.command("add")
def add(
    user: Annotated[str, typer.Argument(help="User name.")],
    no_login: Annotated[
        bool, typer.Option("--no-login", help="Do not log the Docker engine in as this user.")
    ] = False,
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            help="Read the password from stdin (default when stdin is not a terminal).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Add a user (or set a new password). The password is asked for, or read from stdin —
    never from the command line — and never logged. Logs the engine in as USER."""
    from devbox.cli import remote

    password = _read_password(user, password_stdin)
    # the service takes it from the body; its audit log hides it (audit_log.SECRET_FIELDS)
    body = {"name": user, "password": password, "no_login": no_login}
    result = remote.run("POST", "/registry/users", body, f"registryserver user add {user}")
    ui = state.ui()
    if as_json:
        ui.json(result)
    else:
        verb = "updated" if result["updated"] else "added"
        login = f"; engine logged in to {result['address']}" if result["logged_in"] else ""
        ui.success(f"{verb} registry user {user}{login}")


@app.command("remove")
def remove(
    user: Annotated[str, typer.Argument(help="User name.")],
    as_json: JsonOpt = False,
) -> None:
    """Remove a user; the registry is restarted so it takes effect at once."""
    from urllib.parse import quote

    from devbox.cli import remote

    path = f"/registry/users/{quote(user, safe='')}"
    result = remote.run("DELETE", path, {}, f"registryserver user remove {user}")
    if as_json:
        state.ui().json(result)
    else:
        state.ui().success(f"removed registry user {user}")
