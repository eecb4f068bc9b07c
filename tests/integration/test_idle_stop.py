"""Idle stop (issue 16): the service, started with ``idle_stop_after = 30s``, stops a dev
container that nobody uses, leaves running one with an open SSH session (a real paramiko
session over the lab LAN, counted from the host's view of the container's socket table) and
one made with ``--keep-running``; ``list-containers --json`` shows ``idle_seconds``; the stop
is in the audit log as ``devbox-service`` / ``idle-stop``."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest

from tests.cli import run_devbox
from tests.fixtures.devcontainers import DevEnv
from tests.fixtures.lab import stop_daemon
from tests.waits import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

IDLE_ENV = {"DEVBOX_IDLE_STOP_AFTER": "30s"}
BOUND = 150.0  # seconds: 30 s idle, ticks of 10 s, a loaded machine


def cli(dev: DevEnv, *args: str) -> subprocess.CompletedProcess[str]:
    return run_devbox(args, {**os.environ, **dev.env, **IDLE_ENV}, timeout=300)


def make(dev: DevEnv, name: str, *extra: str) -> dict[str, Any]:
    res = cli(dev, "dockeruser", "make-dev-container", name, "--branch", "main", "--no-checkout",
              "--json", *extra)  # fmt: skip
    assert res.returncode == 0, res.stderr
    return dict(json.loads(res.stdout))


def rows(dev: DevEnv) -> dict[str, dict[str, Any]]:
    res = cli(dev, "dockeruser", "list-containers", "--all", "--no-size", "--json")
    assert res.returncode == 0, res.stderr
    return {r["name"]: r for r in json.loads(res.stdout)}


def audit(dev: DevEnv) -> list[dict[str, Any]]:
    path = dev.root / "logs" / "audit.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_idle_container_stops_busy_ones_stay(devenv: DevEnv) -> None:
    from devbox.adapters import ssh
    from devbox.services import daemon_control

    # the service of this root, with the setting in its own environment
    stop_daemon(devenv.lab)
    daemon_control.ensure_running(_idle_cfg(devenv))
    keep, used, idle = devenv.name("keep"), devenv.name("ssh"), devenv.name("idle")
    make(devenv, keep, "--keep-running")
    summary = make(devenv, used)
    client = ssh.connect(
        summary["ip"],
        "dev",
        devenv.root / "ssh" / "id_ed25519",
        devenv.root / "ssh" / "known_hosts",
    )
    try:
        session = client.get_transport().open_session()  # type: ignore[union-attr]
        session.exec_command("sleep 900")  # an open SSH session, doing nothing
        make(devenv, idle)

        seen = rows(devenv)
        assert seen[keep]["keep_running"] is True
        assert seen[idle]["keep_running"] is False
        assert "idle_seconds" in seen[idle]

        def stopped() -> bool:
            return rows(devenv)[idle]["state"] != "running"

        wait_for(stopped, BOUND, f"idle stop of {idle}", interval=2.0)
        # the kept one has been idle past the setting (so it was looked at), and still runs
        wait_for(
            lambda: (rows(devenv)[keep]["idle_seconds"] or 0) >= 40,
            BOUND,
            f"{keep} counted idle past 30 s",
            interval=2.0,
        )
        after = rows(devenv)
        assert after[keep]["state"] == "running"
        assert after[used]["state"] == "running", "a container with an open SSH session stopped"
        assert after[used]["idle_seconds"] is not None
        assert after[used]["idle_seconds"] < 30
        assert after[idle]["idle_seconds"] is None  # stopped: not tracked
        assert session.active
    finally:
        client.close()
    lines = [a for a in audit(devenv) if a.get("command") == "idle-stop"]
    assert [(a["user"], a["target"], a["result"]) for a in lines] == [
        ("devbox-service", idle, "ok")
    ]


def _idle_cfg(dev: DevEnv) -> Any:
    from devbox import config

    return config.load(environ={**dev.env, **IDLE_ENV}, files=())
