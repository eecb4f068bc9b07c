"""``list-containers``."""

from __future__ import annotations

from typing import Annotated

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
) -> None:
    """List your devbox containers: kind, branch, state, IP, MAC, image, /opt size.
    Clones are listed under their source."""
    from devbox.services import container_lifecycle

    rows = container_lifecycle.list_containers(
        state.config(), include_stopped=all_states, with_size=not no_size
    )
    if combos:
        rows = [r for r in rows if r.kind == "combo"]
    # clones right after their source
    by_source: dict[str, list[container_lifecycle.ContainerRow]] = {}
    for r in rows:
        if r.clone_of:
            by_source.setdefault(r.clone_of, []).append(r)
    ordered: list[container_lifecycle.ContainerRow] = []
    for r in rows:
        if r.clone_of and r.clone_of in {x.name for x in rows}:
            continue
        ordered.append(r)
        ordered.extend(by_source.get(r.name, []))
    if as_json:
        state.ui().json([r.to_dict() for r in ordered])
        return
    table = [
        [
            ("  └ " if r.clone_of else "") + r.name,
            r.kind,
            r.branch or r.product,
            r.state,
            r.ip or "-",
            r.mac,
            r.image,
            r.created,
            human_bytes(r.opt_bytes),
        ]
        for r in ordered
    ]
    state.ui().table(
        None, ["name", "kind", "branch", "state", "IP", "MAC", "image", "created", "/opt"], table
    )
