"""``devbox common config show``."""

from __future__ import annotations

from typing import Annotated

import typer

from devbox.cli import state


def show(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Print every effective setting, its value and where it came from."""
    cfg = state.config()
    rows = [(s.name, str(v.value), v.source, s.env, s.help) for s, v in cfg.items()]
    if as_json:
        state.ui().json(
            [
                {"name": n, "value": val, "source": src, "env": env, "help": h}
                for n, val, src, env, h in rows
            ]
        )
        return
    state.ui().table(
        "devbox settings", ["setting", "value", "source", "env"], [list(r[:4]) for r in rows]
    )
