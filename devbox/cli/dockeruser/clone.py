"""``devbox dockeruser clone``."""

from __future__ import annotations

from typing import Annotated

import typer

from devbox.cli import state
from devbox.cli.completion import complete_container
from devbox.cli.options import CpusOpt, MemoryOpt, PidsOpt


def clone(
    source: Annotated[
        str,
        typer.Argument(
            help="Container to clone (it keeps running).", autocompletion=complete_container
        ),
    ],
    count: Annotated[int, typer.Option("--count", "-n", help="How many clones to make.")] = 1,
    prefix: Annotated[
        str | None,
        typer.Option(
            help="Clone names are PREFIX1, PREFIX2, ... (default: SOURCE-c1, SOURCE-c2, ...; "
            "numbering continues after existing clones)."
        ),
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option("--jobs", "-j", help="Clones made at once (default: 2 per CPU, at most 16)."),
    ] = None,
    memory: MemoryOpt = None,
    cpus: CpusOpt = None,
    pids: PidsOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Clone a container N times for peer testing.

    SOURCE is paused for a moment while its root filesystem is committed and its /opt is
    snapshotted (reflink where the filesystem supports it, else one copy). Each clone gets /opt
    as an overlay on that snapshot (it costs only what it writes), a new machine-id, fresh SSH
    host keys, its own hostname, MAC and DHCP lease. A clone that fails is rolled back and
    reported; the others stay.

    Example: devbox dockeruser clone alice-main --count 20 --jobs 10
    """
    from devbox.api import client_ssh
    from devbox.cli import remote
    from devbox.cli.ui.clone_board import board_for
    from devbox.errors import ExitCode
    from devbox.model import clone_plan
    from devbox.model.clone_plan import CloneResult, CloneRun
    from devbox.model.limits import request

    request(memory, cpus, pids)  # a bad value fails here, before the service is asked
    clone_plan.clone_names(source, count, (), prefix)  # names, count, prefix: exit 2 now
    ui = state.ui()
    board = board_for(ui)
    body = {
        "count": count,
        "prefix": prefix,
        "jobs": jobs,
        "memory": memory,
        "cpus": cpus,
        "pids": pids,
        # used when the clones are not the source owner's (an admin's): their keys let in
        "public_keys": client_ssh.own_public_keys(),
    }
    try:
        data = remote.run(
            "POST", f"/containers/{source}/clones", body, f"clone {source}", board.reporter
        )
    finally:
        board.close()
    run = CloneRun(**{**data, "clones": [CloneResult(**c) for c in data["clones"]]})
    _write_ssh_entries([c.name for c in run.clones if c.ok])
    if as_json:
        ui.json(run.to_dict())
    else:
        ok = [c for c in run.clones if c.ok]
        ui.success(
            f"{len(ok)} of {len(run.clones)} clone(s) of {source} ready in "
            f"{run.seconds:.1f}s (freeze {run.freeze_seconds:.1f}s, /opt snapshot by "
            f"{run.snapshot_method})"
        )
        ui.table(
            None,
            ["clone", "result", "IP", "MAC", "seconds"],
            [
                [
                    c.name,
                    "ready" if c.ok else "FAILED, rolled back",
                    c.ip or "-",
                    c.mac or "-",
                    f"{c.seconds:.1f}",
                ]
                for c in run.clones
            ],
        )
        for c in run.failed:
            ui.error(f"{c.name}: {c.error}", hint=f"log: {c.log}")
    if run.failed:
        raise typer.Exit(int(ExitCode.FAILED))


def _write_ssh_entries(names: list[str]) -> None:
    from devbox.api import client_ssh
    from devbox.cli import remote

    api = remote.client()
    for name in names:
        client_ssh.record(
            api.get(f"/containers/{name}"), as_root=remote.local_root(), via=remote.via_host()
        )
