"""``devbox common hosts add|list|remove``: the other hosts ``--host NAME`` reaches."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from devbox.cli import state

if TYPE_CHECKING:
    from devbox.api.client import Client

app = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode=None,
    help="Other hosts' devbox services, reached over SSH with 'devbox --host NAME ...': your "
    "own [hosts.NAME] tables in ~/.config/devbox/config.toml over the admin's "
    "/etc/devbox/hosts.toml. Simulated hosts of 'devbox common lab up --hosts N' are added "
    "the same way (ssh root@<their lab address>, --socket <host dir>/root/run/devbox.sock).",
)


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="The name --host will use, e.g. bighost.")],
    ssh: Annotated[
        str, typer.Option("--ssh", help="USER@ADDR: who logs in where, with your SSH keys.")
    ],
    port: Annotated[int, typer.Option("--port", help="sshd's port there.")] = 22,
    socket: Annotated[
        str,
        typer.Option("--socket", help="The devbox service's socket there (default: its own)."),
    ] = "",
    devbox: Annotated[
        str, typer.Option("--devbox", help="The command that runs devbox there.")
    ] = "devbox",
) -> None:
    """Add (or replace) a host in your config. Its host key must be in your
    ~/.ssh/known_hosts (or /etc/ssh/ssh_known_hosts): devbox never accepts one blindly."""
    from devbox.model import hosts
    from devbox.state import host_list

    path = host_list.user_file()
    entry = hosts.entry(name, ssh, port, socket, devbox, source=str(path))
    new = host_list.add(path, entry)
    state.ui().success(f"{'added' if new else 'replaced'} host {name} ({entry.target}) in {path}")


@app.command("remove")
def remove(name: Annotated[str, typer.Argument(help="The host's name.")]) -> None:
    """Take a host out of your config (the admin's list is theirs to change)."""
    from devbox.errors import UserError
    from devbox.model.hosts import ADD_HINT
    from devbox.state import host_list

    path = host_list.user_file()
    if host_list.remove(path, name):
        state.ui().success(f"removed host {name} from {path}")
        return
    if name in host_list.read(host_list.SYSTEM_HOSTS):
        raise UserError(
            f"host {name} is in the admin-wide list {host_list.SYSTEM_HOSTS}, not in {path}",
            hint="ask the host's admin to take it out there",
        )
    raise UserError(f"unknown host '{name}'", hint=f"devbox common hosts list; {ADD_HINT}")


def _facts(api: Client) -> dict[str, Any]:
    return {
        "version": api.get("/version"),
        "whoami": api.get("/whoami"),
        "host": api.get("/host"),
    }


@app.command("list")
def list_hosts(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Every host you may name, each asked in parallel: reachable, its devbox version, its
    containers, free memory and CPUs, and what its containers were promised."""
    from devbox.cli import remote
    from devbox.model import hosts
    from devbox.model.units import human_bytes
    from devbox.state import host_list

    known = host_list.load(state.config().environ)
    answers = remote.on_hosts(list(known), _facts)
    rows = []
    for name, entry in known.items():
        facts, error = answers[name]
        got = facts or {}
        rows.append(
            hosts.summary(entry, got.get("version"), got.get("host"), got.get("whoami"), error)
        )
    ui = state.ui()
    if as_json:
        ui.json(rows)
        return
    if not rows:
        ui.info(f"no hosts yet; {hosts.ADD_HINT}")
        return

    def size(value: Any) -> str:
        return human_bytes(value) if isinstance(value, int) else "-"

    table = []
    for r in rows:
        if not r["reachable"]:
            table.append([r["name"], r["ssh"], "no", "-", "-", "-", "-", "-", r["error"]])
            continue
        mem, cpus, ctrs, promised = r["memory"], r["cpus"], r["containers"], r["promised"]
        table.append(
            [
                r["name"],
                r["ssh"],
                "yes",
                r["version"],
                f"{ctrs['running']}/{ctrs['all']}",
                f"{size(mem['free'])} of {size(mem['total'])}",
                str(cpus["total"]),
                f"{size(promised['memory'])}, {promised['cpus']:g} CPUs",
                "",
            ]
        )
    ui.table(
        None,
        ["name", "ssh", "up", "devbox", "running/all", "free memory", "CPUs", "promised", ""],
        table,
    )
