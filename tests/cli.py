"""The devbox CLI in a new process, as a user runs it: the one place tests and benches name its
command line (``python -m devbox``), its working folder and how its output is captured.

Callers build the environment themselves (most merge ``os.environ``, some add ``NO_COLOR``):
``run_devbox`` takes it as it is."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

REPO = Path(__file__).resolve().parents[1]


def devbox_argv(args: Sequence[str]) -> list[str]:
    """``devbox ARGS`` as a command line for the interpreter running the tests."""
    return [sys.executable, "-m", "devbox", *args]


def run_devbox(
    args: Sequence[str],
    env: Mapping[str, str],
    *,
    timeout: float | None,
    cwd: Path | None = REPO,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``devbox ARGS`` to its end (text output captured, never raises on its exit code)."""
    return subprocess.run(
        devbox_argv(args),
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        input=input,
    )


def start_devbox(
    args: Sequence[str], env: Mapping[str, str], stdout: IO[str], stderr: IO[str]
) -> subprocess.Popen[str]:
    """Start ``devbox ARGS`` in the background (from the checkout), output to the files given."""
    return subprocess.Popen(
        devbox_argv(args), cwd=REPO, env=dict(env), stdout=stdout, stderr=stderr, text=True
    )


def run_cli(
    env: Mapping[str, str], *args: str, timeout: float = 300, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``devbox ARGS`` exactly as a user types it (a new process, NO_COLOR, no TTY): ``env``
    over the test process's own environment."""
    return run_devbox(args, {**os.environ, **env, "NO_COLOR": "1"}, timeout=timeout, input=input)
