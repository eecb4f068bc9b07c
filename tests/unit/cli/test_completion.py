"""Shell completion driven the way the shell does it (typer 0.2x's bash protocol: env
``_DEVBOX_COMPLETE=complete_bash``, ``COMP_WORDS``, ``COMP_CWORD``), in a fresh process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BRANCH_MAP = """
[[branch]]
name = "zebra-unit"
vcs = "git"
url = "/srv/nowhere.git"

[[branch]]
name = "zebra-*"
vcs = "git"
url = "/srv/nowhere.git"

[[branch]]
name = "yak"
vcs = "git"
url = "/srv/nowhere.git"
"""


def complete(words: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """What bash gets for ``words`` (the last word the one being completed)."""
    parts = words.split(" ")
    full = {
        **os.environ,
        **env,
        "_DEVBOX_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(parts) - 1),
    }
    return subprocess.run(
        [sys.executable, "-m", "devbox"],
        capture_output=True,
        text=True,
        env=full,
        check=False,
        timeout=60,
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    bmap = tmp_path / "branches.toml"
    bmap.write_text(BRANCH_MAP)
    return {
        "HOME": str(tmp_path),
        "DEVBOX_ROOT": str(tmp_path / "root"),  # no service there: names complete to nothing
        "DEVBOX_BRANCHES_MAP": str(bmap),
    }


@pytest.mark.parametrize(
    "words",
    [
        "devbox dockeruser make-dev-container c1 --branch ",
        "devbox make-dev-container c1 -b ",
        "devbox dockeruser checkout c1 --branch ",
    ],
)
def test_branch_values_come_from_the_branch_map(words: str, env: dict[str, str]) -> None:
    result = complete(words, env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["zebra-unit", "yak"]  # the pattern is not offered


def test_a_branch_prefix_narrows_the_offer(env: dict[str, str]) -> None:
    result = complete("devbox dockeruser make-dev-container c1 --branch ze", env)
    assert result.stdout.split() == ["zebra-unit"]


def test_names_are_silent_when_no_service_answers(env: dict[str, str]) -> None:
    for words in ("devbox dockeruser ide ", "devbox ssh ", "devbox dockeruser stop "):
        result = complete(words, env)
        assert (result.returncode, result.stdout.strip(), result.stderr) == (0, "", "")


def test_completion_scripts_for_each_shell(env: dict[str, str]) -> None:
    for shell, marker in (("bash", "complete -o"), ("zsh", "compdef"), ("fish", "complete")):
        full = {**os.environ, **env, "_DEVBOX_COMPLETE": f"source_{shell}"}
        result = subprocess.run(
            [sys.executable, "-m", "devbox"],
            capture_output=True,
            text=True,
            env=full,
            check=False,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert marker in result.stdout and "_DEVBOX_COMPLETE" in result.stdout


def test_show_completion_is_offered(env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "devbox", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, **env, "NO_COLOR": "1"},
        check=False,
        timeout=60,
    )
    assert "--install-completion" in result.stdout and "--show-completion" in result.stdout
