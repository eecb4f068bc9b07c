"""``dockeruser ide`` and shell completion against a real dev container on the lab LAN
(issue 16): the link names the container's SSH host (the entry devbox writes, which a real
ssh reaches), and completion offers the container's name from the service's listing."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli import run_devbox
from tests.fixtures.devcontainers import DevEnv
from tests.fixtures.lab import stop_daemon
from tests.refusals import assert_refused
from tests.waits import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(autouse=True)
def _service_stopped_after(lab: Any) -> Iterator[None]:
    """Root's CLI starts the service of the lab's root; stop it once the test is done (after
    the dev containers' teardown, which needs none)."""
    from devbox.state import daemon_pid

    yield
    pid = daemon_pid.running_pid(lab.cfg())
    stop_daemon(lab)  # returns once the service lets go of its lock; then it still exits
    if pid is not None:
        wait_for(lambda: not Path(f"/proc/{pid}").exists(), 60, f"the service (pid {pid}) gone")


def cli(dev: DevEnv, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return run_devbox(args, {**os.environ, **dev.env, "NO_COLOR": "1", **extra}, timeout=300)


def complete(dev: DevEnv, words: str) -> list[str]:
    """What bash's Tab offers for ``words`` (typer's protocol: _DEVBOX_COMPLETE=complete_bash,
    COMP_WORDS, COMP_CWORD: the index of the word being completed)."""
    result = cli(
        dev,
        _DEVBOX_COMPLETE="complete_bash",
        COMP_WORDS=words,
        COMP_CWORD=str(len(words.split(" ")) - 1),
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def made(dev: DevEnv, tag: str) -> str:
    name = dev.name(tag)
    result = cli(dev, "dockeruser", "make-dev-container", name, "--branch", "main", "--json")
    assert result.returncode == 0, result.stderr
    return name


def test_ide_links_and_completion_name_the_container(devenv: DevEnv) -> None:
    name = made(devenv, "ide")

    # completion offers the name (and a prefix of it) to every NAME argument, and branches
    assert name in complete(devenv, f"devbox dockeruser ide {name[:-3]}")
    assert name in complete(devenv, "devbox ssh ")
    assert name in complete(devenv, "devbox dockeruser stop ")
    assert "main" in complete(devenv, f"devbox dockeruser checkout {name} --branch ")

    # the VS Code link names the SSH host alias and the branch's checkout folder
    result = cli(devenv, "dockeruser", "ide", name)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"vscode://vscode-remote/ssh-remote+{name}/opt/src"
    # ... an alias that the entry devbox wrote defines, and that a real ssh reaches
    config = Path(devenv.env["HOME"]) / ".ssh" / "config.d" / "devbox"
    assert f"Host {name}\n" in config.read_text()
    reached = subprocess.run(
        ["ssh", "-F", str(config), "-o", "BatchMode=yes", name, "test", "-d", "/opt/src"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert reached.returncode == 0, reached.stderr

    gateway: dict[str, Any] = json.loads(
        cli(devenv, "dockeruser", "ide", name, "--jetbrains", "--json").stdout
    )
    assert gateway["host"] == name and gateway["link"].startswith("jetbrains-gateway://connect#")
    assert f"host={name}&" in gateway["link"] and "projectPath=/opt/src" in gateway["link"]

    # Eclipse: refused while the container's /opt has none, a command line once it has one
    assert_refused(cli(devenv, "dockeruser", "ide", name, "--eclipse"), 2, "has no Eclipse")
    put = cli(
        devenv,
        "dockeruser",
        "exec",
        name,
        "--",
        "sh",
        "-c",
        "mkdir -p /opt/eclipse && printf '#!/bin/sh\\n' > /opt/eclipse/eclipse"
        " && chmod 755 /opt/eclipse/eclipse",
    )
    assert put.returncode == 0, put.stderr
    result = cli(devenv, "dockeruser", "ide", name, "--eclipse")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"ssh -X {name} /opt/eclipse/eclipse"

    # two IDEs at once: a one-line refusal
    assert_refused(cli(devenv, "dockeruser", "ide", name, "--vscode", "--jetbrains"), 2, "pick one")

    # --open without a desktop opener: the link is printed, then exit 3 with the apt command
    bare = Path(devenv.env["HOME"]) / "bin-without-opener"
    bare.mkdir()
    result = cli(devenv, "dockeruser", "ide", name, "--open", PATH=f"{bare}:/nonexistent")
    assert result.stdout.strip() == f"vscode://vscode-remote/ssh-remote+{name}/opt/src"
    assert_refused(result, 3, "xdg-open is not installed", "xdg-utils")


def test_ide_of_an_unknown_container_is_refused(devenv: DevEnv) -> None:
    assert_refused(cli(devenv, "dockeruser", "ide", "dbxt-no-such-box"), 2, "dbxt-no-such-box")
