"""The service root's CLI starts runs every user's jobs: it must not carry root's personal
credentials (its SSH agent, its Perforce password and tickets, cloud tokens) from the
terminal that happened to start it. Root's own jobs still get root's settings (forwarded
with each request); a user's job gets the service's scrubbed environment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from devbox import config
from devbox.services import daemon_control
from tests.cli import run_devbox
from tests.conftest import RUN_ID
from tests.fixtures.service_jobs import stop_service

pytestmark = pytest.mark.integration

SECRETS = {
    "SSH_AUTH_SOCK": f"/tmp/root-agent-{RUN_ID}.sock",
    "P4PASSWD": f"root-p4-password-{RUN_ID}",
    "P4TICKETS": f"/root/.p4tickets-{RUN_ID}",
    "P4USER": f"root-{RUN_ID}",
    "AWS_SECRET_ACCESS_KEY": f"aws-{RUN_ID}",
    "GITHUB_TOKEN": f"gh-{RUN_ID}",
}


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def test_a_service_roots_cli_starts_carries_none_of_roots_credentials(tmp_path: Path) -> None:
    root = tmp_path / "root"
    env = {**os.environ, "DEVBOX_ROOT": str(root), "NO_COLOR": "1", **SECRETS}
    try:
        listed = run_devbox(["dockeruser", "list-containers", "--json"], env, timeout=120)
        assert listed.returncode == 0, listed.stderr
        pid = daemon_control.running_pid(config.load(environ={"DEVBOX_ROOT": str(root)}, files=()))
        assert pid is not None
        seen = _environ(pid)
        leaked = {k for k in SECRETS if k in seen}
        assert not leaked, leaked
        # what it needs to work stays: its root, its PATH
        assert seen.get("DEVBOX_ROOT") == str(root) and seen.get("PATH")
    finally:
        stop_service(root)
