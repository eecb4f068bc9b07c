"""``ssh``, ``exec`` and ``logs``."""

from __future__ import annotations

import shutil
import time
from typing import Annotated

import typer

from devbox.cli import state


def ssh(
    name: Annotated[str, typer.Argument(help="Container to log in to.")],
    command: Annotated[
        list[str] | None, typer.Argument(help="Command to run instead of a shell (after --).")
    ] = None,
) -> None:
    """Log in to a container as the dev user with the system ssh (right address, key and
    known_hosts). With a command after --, run it and exit with its exit code."""
    from devbox.errors import NotReadyError
    from devbox.services import container_lifecycle

    argv = container_lifecycle.ssh_argv(state.config(), name, command or [])
    if not shutil.which("ssh"):
        raise NotReadyError("ssh is not installed", hint="apt-get install -y openssh-client")
    code = container_lifecycle.run_ssh(argv, replace=not command)
    raise typer.Exit(code)


def exec_cmd(
    name: Annotated[str, typer.Argument(help="Container.")],
    command: Annotated[list[str], typer.Argument(help="Command and arguments (after --).")],
    user: Annotated[str, typer.Option("--user", "-u", help="User to run as.")] = "root",
) -> None:
    """Run a command in a container through the Docker API; exits with its exit code."""
    from devbox.services import container_lifecycle

    raise typer.Exit(container_lifecycle.exec_in(state.config(), name, command, user=user))


def logs(
    name: Annotated[str, typer.Argument(help="Container.")],
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines (Ctrl-C to stop).")
    ] = False,
) -> None:
    """Print the devbox log of a container (every step devbox ran for it, with durations)."""
    from devbox.services import container_lifecycle

    path = container_lifecycle.log_path(state.config(), name)
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            print(line, end="")
        while follow:
            line = fh.readline()
            if line:
                print(line, end="", flush=True)
            else:
                time.sleep(0.3)
