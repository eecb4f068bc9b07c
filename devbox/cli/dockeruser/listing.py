"""``list-containers``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from devbox.cli import state
from devbox.model.units import human_bytes


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
) -> None:
    """List the devbox containers of this host: owner, kind, branch, state, IP, MAC, image,
    /opt size. Clones are listed under their source. Everyone sees every container (and its
    owner); only the owner (or an admin) may act on one."""
    from devbox.cli import remote

    rows: list[dict[str, Any]] = remote.client().get(
        "/containers", all=all_states, no_size=no_size, mine=mine
    )
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
    if as_json:
        state.ui().json(ordered)
        return
    table = [
        [
            ("  └ " if r["clone_of"] else "") + r["name"],
            r.get("owner", ""),
            r["kind"],
            r["branch"] or r["product"],
            r["state"],
            r["ip"] or "-",
            r["mac"],
            r["image"],
            r["created"],
            human_bytes(r["opt_bytes"]),
        ]
        for r in ordered
    ]
    state.ui().table(
        None,
        ["name", "owner", "kind", "branch", "state", "IP", "MAC", "image", "created", "/opt"],
        table,
    )
