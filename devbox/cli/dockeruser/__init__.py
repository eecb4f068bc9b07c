"""``devbox dockeruser``: the everyday commands (make, start, list, ssh, remove, clone)."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, rich_markup_mode=None)

# The most used dockeruser commands, also reachable at top level (devbox make-dev-container).
TOP_LEVEL: tuple[str, ...] = ()


def register_top_level(root: typer.Typer) -> None:
    for info in app.registered_commands:
        name = info.name or (info.callback.__name__.replace("_", "-") if info.callback else "")
        if name in TOP_LEVEL:
            root.registered_commands.append(info)
