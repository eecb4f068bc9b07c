"""``devbox dockeruser branches``: list the branch map."""

from __future__ import annotations

from typing import Annotated

import typer

from devbox.cli import state


def branches(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the branches you can pass to --branch: exact names first match, then patterns.

    Each row says where the sources come from (Perforce depot or git URL and ref), where they
    go under /opt, and which image, /opt seed and license containers of that branch get.
    """
    from devbox import branches as branchmap

    bmap = branchmap.for_config(state.config())
    if as_json:
        state.ui().json({"source": bmap.source, "branches": [e.to_dict() for e in bmap.entries]})
        return
    rows = []
    for e in bmap.entries:
        source = e.depot if e.vcs == "p4" else e.url
        if e.ref:
            source += f" @ {e.ref}"
        rows.append(
            [
                e.name,
                e.vcs,
                source,
                branchmap.container_path(e.path),
                e.image,
                e.opt_seed,
                e.license,
            ]
        )
    state.ui().table(
        f"branches ({bmap.source})",
        ["branch", "vcs", "source", "/opt", "image", "seed", "license"],
        rows,
    )
