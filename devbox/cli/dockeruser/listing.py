"""``list-containers``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from devbox.cli import state
from devbox.cli.options import AllHostsOpt
from devbox.model.units import human_bytes, human_duration


def list_containers(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    all_states: Annotated[
        bool, typer.Option("--all", "-a", help="Include stopped containers.")
    ] = False,
    combos: Annotated[
        bool, typer.Option("--combos", help="Only product/patch combo containers.")
    ] = False,
    no_size: Annotated[
        bool, typer.Option("--no-size", help="Skip measuring /opt (faster).")
    ] = False,
    mine: Annotated[bool, typer.Option("--mine", help="Only the containers you own.")] = False,
    all_hosts: AllHostsOpt = False,
) -> None:
    """List the devbox containers of this host: owner, kind, branch, state, IP, MAC, image,
    /opt size. Clones are listed under their source. Everyone sees every container (and its
    owner); only the owner (or an admin) may act on one."""
    from devbox.cli import remote

    query = {"all": all_states, "no_size": no_size, "mine": mine}
    if all_hosts:
        _fleet(query, combos, as_json)
        return
    rows: list[dict[str, Any]] = remote.client().get("/containers", **query)
    ordered = _ordered(rows, combos)
    if as_json:
        state.ui().json(ordered)
        return
    state.ui().table(None, COLUMNS, [_cells(r) for r in ordered])


COLUMNS = [
    *("name", "owner", "kind", "branch", "state", "IP", "MAC", "image", "created", "/opt"),
    "idle",  # idle stop's count (-: not tracked)
]


def _fleet(query: dict[str, Any], combos: bool, as_json: bool) -> None:
    from devbox.cli import remote
    from devbox.model import hosts

    names = remote.fleet("devbox dockeruser list-containers --all-hosts")
    answers = remote.on_hosts(names, lambda api: api.get("/containers", **query))
    rows = hosts.fleet_rows(
        hosts.HostAnswer(name, _ordered(rows, combos) if rows is not None else None, error)
        for name, (rows, error) in answers.items()
    )
    if as_json:
        state.ui().json(rows)
        return
    state.ui().table(None, ["host", *COLUMNS], hosts.fleet_cells(rows, _cells))


def _ordered(rows: list[dict[str, Any]], combos: bool) -> list[dict[str, Any]]:
    if combos:
        rows = [r for r in rows if r["kind"] == "combo"]
    # clones right after their source
    by_source: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        if r["clone_of"]:
            by_source.setdefault(r["clone_of"], []).append(r)
    names = {x["name"] for x in rows}
    ordered: list[dict[str, Any]] = []
    for r in rows:
        if r["clone_of"] and r["clone_of"] in names:
            continue
        ordered.append(r)
        ordered.extend(by_source.get(r["name"], []))
    return ordered


def _cells(r: dict[str, Any]) -> list[Any]:
    return [
        ("  └ " if r["clone_of"] else "") + r["name"],
        r.get("owner", ""),
        r["kind"],
        r["branch"] or r["product"],
        r["state"],
        "\n".join([r["ip"] or "-", *r.get("ipv6", [])]),  # IPv6 (SLAAC) under the IPv4
        r["mac"],
        r["image"],
        r["created"],
        human_bytes(r["opt_bytes"]),
        _idle_cell(r),
    ]


def _idle_cell(r: dict[str, Any]) -> str:
    """Idle time as idle stop counts it (``-``: not tracked); ``keep`` marks --keep-running."""
    seconds = r.get("idle_seconds")
    text = "-" if seconds is None else human_duration(int(seconds))
    return f"{text} (keep)" if r.get("keep_running") else text
