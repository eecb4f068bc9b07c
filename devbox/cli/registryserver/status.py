"""``devbox registryserver status``."""

from __future__ import annotations

from typing import Annotated

import typer

from devbox.cli import state


def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Show the registry: address, TLS, users, storage use, repositories and tags."""
    from devbox.cli import remote

    st = remote.client().get("/registry")
    ui = state.ui()
    if as_json:
        ui.json(st)
        return
    rows = [
        ["address", st["address"]],
        ["container", f"{st['name']} ({st['state']})"],
        ["TLS", f"yes, CA {st['ca']}" if st["tls"] else "no"],
        ["users", ", ".join(st["users"]) or "(none)"],
        ["storage", f"{st['storage']} ({st['storage_bytes'] / 1e6:.1f} MB)"],
    ]
    rows += [
        [f"repo {repo}", ", ".join(tags) or "(no tags)"]
        for repo, tags in sorted(st["repositories"].items())
    ]
    if st["error"]:
        rows.append(["error", st["error"]])
    ui.table("devbox registry", ["", "value"], rows)
