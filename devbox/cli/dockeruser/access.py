"""``ssh``, ``exec`` and ``logs``."""

from __future__ import annotations

import shutil
from typing import Annotated

import typer

from devbox.cli import state
from devbox.cli.completion import complete_container

FOLLOW_FOR = 7 * 24 * 3600.0  # seconds 'logs --follow' goes on at the most (Ctrl-C ends it)


def ssh(
    name: Annotated[
        str, typer.Argument(help="Container to log in to.", autocompletion=complete_container)
    ],
    command: Annotated[
        list[str] | None, typer.Argument(help="Command to run instead of a shell (after --).")
    ] = None,
) -> None:
    """Log in to a container as the dev user with the system ssh (right address, key and
    known_hosts). With a command after --, run it and exit with its exit code."""
    from devbox.api.client_ssh import replace_process, run_interactive
    from devbox.errors import NotReadyError

    if not shutil.which("ssh"):
        raise NotReadyError("ssh is not installed", hint="apt-get install -y openssh-client")
    from devbox.cli import remote

    if remote.local_root():  # root logs in with devbox's own key, as before
        from devbox.services import container_reach

        argv = container_reach.ssh_argv(state.config(), name, command or [])
    else:
        argv = _user_ssh_argv(name, command or [])
    if not command:
        replace_process(argv)  # does not return
    raise typer.Exit(run_interactive(argv))


def _user_ssh_argv(name: str, command: list[str]) -> list[str]:
    """A user's ssh: their own keys, the host keys devbox recorded (asked of the service,
    which refuses a container that is not theirs)."""
    from devbox.api import client_ssh
    from devbox.cli import remote
    from devbox.model import container_plan

    facts = remote.client().get(f"/containers/{name}")
    via = remote.via_host()
    written = client_ssh.record(facts, as_root=False, via=via)
    if via is not None:  # on another host: the entry just written (maybe through that host)
        return ["ssh", "-F", str(written), name, *(["--", *command] if command else [])]
    return container_plan.ssh_argv(
        name,
        facts["ip"],
        facts["user"],
        str(client_ssh.user_known_hosts()),
        facts.get("proxy_command"),
        command=command,
    )


def exec_cmd(
    name: Annotated[str, typer.Argument(help="Container.", autocompletion=complete_container)],
    command: Annotated[list[str], typer.Argument(help="Command and arguments (after --).")],
    user: Annotated[str, typer.Option("--user", "-u", help="User to run as.")] = "root",
) -> None:
    """Run a command in a container through the Docker API; exits with its exit code."""
    from devbox.cli import remote

    result = remote.run(
        "POST", f"/containers/{name}/exec", {"argv": command, "user": user}, f"exec {name}"
    )
    raise typer.Exit(int(result["exit"]))


def logs(
    name: Annotated[str, typer.Argument(help="Container.", autocompletion=complete_container)],
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines (Ctrl-C to stop).")
    ] = False,
) -> None:
    """Print the devbox log of a container (every step devbox ran for it, with durations)."""
    from devbox.cli import remote
    from devbox.waits import poll

    api = remote.client()
    offset = 0

    def more() -> bool:
        """Print what the log holds past ``offset``; True when that is all there is to do."""
        nonlocal offset
        part = api.get(f"/containers/{name}/log", offset=offset or None)
        print(part["text"], end="", flush=True)
        offset = int(part["end"])
        return not follow

    poll(more, FOLLOW_FOR, 0.5)
