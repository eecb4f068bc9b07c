"""Options several commands share, declared once (typer ``Annotated`` aliases)."""

from __future__ import annotations

from typing import Annotated

import typer

MemoryOpt = Annotated[
    str | None,
    typer.Option(
        "--memory",
        help="Memory limit, e.g. 512m or 4g (no swap on top; default: the branch "
        "map, else the 'limits.memory' setting).",
    ),
]
CpusOpt = Annotated[
    str | None,
    typer.Option(
        "--cpus", help="CPU limit, e.g. 2 or 0.5 (default: the branch map, else 'limits.cpus')."
    ),
]
PidsOpt = Annotated[
    str | None,
    typer.Option(
        "--pids", help="Process limit, e.g. 4096 (default: the branch map, else 'limits.pids')."
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
AllHostsOpt = Annotated[
    bool,
    typer.Option(
        "--all-hosts",
        help="This machine ('local') and every host of 'devbox common hosts list', asked "
        "in parallel, with a host column; a host that does not answer is one row.",
    ),
]
