"""Start a long-running helper (the daemon) detached from the calling process."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path


def detached(
    argv: Sequence[str],
    output: Path,
    env: Mapping[str, str],
    preexec: Callable[[], None] | None = None,
) -> int:
    """Start ``argv`` in its own session, output appended to ``output``; returns its PID.
    It runs in ``/``: never in the starter's working folder (a container's /opt, say).
    ``preexec`` runs in the child before exec (``netns.preexec``: start it in a netns)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("ab") as out:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env),
            start_new_session=True,
            cwd="/",
            close_fds=True,
            preexec_fn=preexec,
        )
    return proc.pid
