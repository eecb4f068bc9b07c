"""The catch-all: a bug (any exception devbox does not expect) is exit 1 with one error line
and a hint naming --debug; --debug shows the traceback. README: "Exit codes".

No real input of devbox's is a bug any more (the ones that were, a branch map that is a
directory and the like, are user errors now), so the bug is planted: a ``sitecustomize`` on
the child's path makes one command raise a RuntimeError. It changes nothing but that one
function, in that one child process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# a command the CLI runs in its own process (most go to the devbox service, which reports
# its own bugs as one line too)
COMMAND = ("common", "config", "show")
PLANT = """
import devbox.config as config

def items(self):
    raise RuntimeError("planted bug for the crash-handler test")

config.Config.items = items
"""


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "sitecustomize.py").write_text(PLANT)
    env = {
        **os.environ,
        "PYTHONPATH": f"{tmp_path}:{REPO}",
        "NO_COLOR": "1",
        "DEVBOX_ROOT": str(tmp_path / "root"),
        "HOME": str(tmp_path),
    }
    return subprocess.run(
        [sys.executable, "-m", "devbox", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_bug_is_exit_1_with_the_debug_hint(tmp_path: Path) -> None:
    res = _run(tmp_path, *COMMAND)
    assert res.returncode == 1, res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 2, res.stderr
    assert lines[0].startswith("error: internal error: ") and "planted bug" in lines[0]
    assert lines[1].startswith("hint: ") and "--debug" in lines[1]
    assert "Traceback" not in res.stderr


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    res = _run(tmp_path, "--debug", *COMMAND)
    assert res.returncode == 1
    assert "Traceback (most recent call last)" in res.stderr
    assert "RuntimeError: planted bug" in res.stderr


def test_bad_user_files_are_user_errors_not_bugs(tmp_path: Path) -> None:
    """What used to reach the catch-all: a branch map that is a directory or not UTF-8."""
    for bad in (tmp_path / "adir", tmp_path / "latin1.toml"):
        if bad.suffix:
            bad.write_bytes(b'[[branch]]\nname = "caf\xe9"\n')
        else:
            bad.mkdir()
        env = {
            **os.environ,
            "DEVBOX_BRANCHES_MAP": str(bad),
            "NO_COLOR": "1",
            "DEVBOX_ROOT": str(tmp_path / "root"),
            "HOME": str(tmp_path),
        }
        res = subprocess.run(
            [sys.executable, "-m", "devbox", "dockeruser", "branches"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert res.returncode == 2, res.stderr
        assert res.stderr.startswith(f"error: branch map {bad}"), res.stderr
        assert "\nhint: " in res.stderr
