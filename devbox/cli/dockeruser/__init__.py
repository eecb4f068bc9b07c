"""``devbox dockeruser``: the everyday commands (make, start, list, ssh, remove, clone, ide)."""

from __future__ import annotations

import typer

from devbox.cli.dockeruser import (
    access,
    branches,
    checkout,
    clone,
    ide,
    lifecycle,
    listing,
    make,
    move,
    prune,
    runon,
    snapshot,
    stats,
)
from devbox.cli.dockeruser import p4 as p4_cmd

app = typer.Typer(no_args_is_help=True, rich_markup_mode=None)
app.command("make-dev-container")(make.make_dev_container)
app.command("make-os-container")(make.make_os_container)
app.command("start-dev-container")(lifecycle.start_dev_container)
app.command("stop")(lifecycle.stop)
app.command("list-containers")(listing.list_containers)
app.command("remove-dev-container")(lifecycle.remove_dev_container)
app.command("ssh")(access.ssh)
app.command("exec")(access.exec_cmd)
app.command("logs")(access.logs)
app.command("clone")(clone.clone)
app.command("run-on", cls=runon.SplitAtDashDash)(runon.run_on)
app.command("prune-combos")(prune.prune_combos)
app.command("branches")(branches.branches)
app.command("checkout")(checkout.checkout)
app.command("stats")(stats.stats)
app.command("ide")(ide.ide)
app.add_typer(p4_cmd.app, name="p4", help="Your Perforce server, user and login ticket.")
app.command("snapshot")(snapshot.snapshot)
app.command("snapshots")(snapshot.snapshots)
app.command("restore")(snapshot.restore)
app.command("snapshot-remove")(snapshot.snapshot_remove)
app.command("move")(move.move)

# The most used dockeruser commands, also reachable at top level (devbox make-dev-container).
TOP_LEVEL: tuple[str, ...] = (
    "make-dev-container",
    "start-dev-container",
    "list-containers",
    "remove-dev-container",
    "ssh",
)


def register_top_level(root: typer.Typer) -> None:
    for info in app.registered_commands:
        if info.name in TOP_LEVEL:
            root.registered_commands.append(info)
