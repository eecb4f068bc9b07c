"""``devbox dockeruser stats``: CPU %, memory, PIDs, network bytes and /opt size of devbox
containers, once or (``--watch``) as a live table, like ``docker stats``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from devbox.cli import state
from devbox.cli.options import AllHostsOpt

if TYPE_CHECKING:
    from devbox.api.client import Client

INTERVAL = 2.0  # seconds between two refreshes of --watch
OPT_EVERY = 15  # --watch measures /opt every this many refreshes (a walk of each tree)
WATCH_BOUND = 7 * 86400.0  # --watch without --for still ends, after a week


def stats(
    names: Annotated[
        list[str] | None,
        typer.Argument(help="Containers (default: every running devbox container)."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON (with --watch: one line per refresh).")
    ] = False,
    watch: Annotated[
        bool, typer.Option("--watch", "-w", help="Refresh every 2 s until Ctrl-C.")
    ] = False,
    for_seconds: Annotated[
        float | None,
        typer.Option("--for", min=0.0, help="With --watch: stop after this many seconds."),
    ] = None,
    no_size: Annotated[
        bool, typer.Option("--no-size", help="Skip measuring /opt (faster).")
    ] = False,
    all_hosts: AllHostsOpt = False,
) -> None:
    """CPU %, memory used / limit, PIDs, network bytes received / sent and /opt size of devbox
    containers, with owner and branch. Everyone sees every container (as in list-containers).
    CPU % is docker's: 100% is one CPU busy."""
    from devbox.cli import remote
    from devbox.errors import UserError

    if for_seconds is not None and not watch:
        raise UserError("--for goes with --watch", hint="devbox dockeruser stats --watch --for 60")
    query: dict[str, Any] = {"names": ",".join(names) if names else None, "no_size": no_size}
    if all_hosts:
        if watch:
            raise UserError(
                "--all-hosts shows the fleet once; --watch follows one host",
                hint="devbox dockeruser stats --all-hosts (or --host NAME --watch)",
            )
        _fleet(query, as_json)
        return
    api = remote.client()
    if watch:
        _watch(api, query, as_json, WATCH_BOUND if for_seconds is None else for_seconds)
        return
    rows: list[dict[str, Any]] = api.get("/stats", **query)
    if as_json:
        state.ui().json(rows)
        return
    from devbox.model.stats import COLUMNS, cells

    state.ui().table(None, COLUMNS, [cells(r) for r in rows])


def _fleet(query: dict[str, Any], as_json: bool) -> None:
    """Every host's stats in parallel (as ``list-containers --all-hosts``): one table with a
    host column; a host that does not answer is one row saying why. Names a host does not
    have are skipped there (each host reports its own)."""
    from devbox.cli import remote
    from devbox.model import hosts
    from devbox.model.stats import COLUMNS, cells

    names = remote.fleet("devbox dockeruser stats --all-hosts")
    wanted = set(str(query["names"]).split(",")) if query["names"] else None
    fleet_query = {**query, "names": None}  # a host without a named container is no error

    def ask(api: Client) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = api.get("/stats", **fleet_query)
        return [r for r in rows if wanted is None or r.get("name") in wanted]

    answers = remote.on_hosts(names, ask)
    rows = hosts.fleet_rows(
        hosts.HostAnswer(name, found, error) for name, (found, error) in answers.items()
    )
    if as_json:
        state.ui().json(rows)
        return
    state.ui().table(None, ["host", *COLUMNS], hosts.fleet_cells(rows, cells))


def _watch(api: Client, query: dict[str, Any], as_json: bool, seconds: float) -> None:
    """Ask every ``INTERVAL`` seconds and redraw, until Ctrl-C (or SIGTERM) or ``seconds``
    have passed; a service that stops answering ends it with its one-line error."""
    import json
    import sys
    import time

    from rich.live import Live

    ui = state.ui()
    deadline = time.monotonic() + seconds
    sizes: dict[str, int | None] = {}
    rounds = int(seconds / INTERVAL) + 2
    live = None if as_json else Live(console=ui.out, auto_refresh=False, transient=False)
    try:
        if live is not None:
            live.start()
        for count in range(rounds):
            measure = not query["no_size"] and count % OPT_EVERY == 0
            rows: list[dict[str, Any]] = api.get("/stats", **{**query, "no_size": not measure})
            for row in rows:
                if measure:
                    sizes[row["name"]] = row.get("opt_bytes")
                else:
                    row["opt_bytes"] = sizes.get(row["name"])
            if live is None:
                sys.stdout.write(json.dumps(rows, sort_keys=True) + "\n")
                sys.stdout.flush()
            else:
                live.update(_table(rows, time.strftime("%H:%M:%S")), refresh=True)
            left = deadline - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(INTERVAL, left))
    except KeyboardInterrupt:
        pass  # Ctrl-C is how --watch ends
    finally:
        if live is not None:
            live.stop()


def _table(rows: list[dict[str, Any]], stamp: str) -> Any:
    from rich.table import Table

    from devbox.model.stats import COLUMNS, cells

    table = Table(caption=f"{stamp}  every {INTERVAL:g} s, Ctrl-C ends", caption_justify="left")
    for col in COLUMNS:
        table.add_column(col)
    for row in rows:
        table.add_row(*cells(row))
    if not rows:
        table.add_row("(no running devbox container)", *[""] * (len(COLUMNS) - 1))
    return table
