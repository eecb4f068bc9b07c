"""``devbox common doctor`` against the real host: passes with the lab up, fails with fixes when
the Docker engine cannot be reached (simulated by pointing DOCKER_HOST at a dead socket, so the
shared dockerd keeps running)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def doctor(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devbox", "common", "doctor", *args],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_doctor_passes_with_lab_up(lab: Any) -> None:
    result = doctor(lab.env, "--json")
    data = json.loads(result.stdout)
    failed = [c for c in data["checks"] if c["needed"] and not c["ok"]]
    assert result.returncode == 0, failed
    names = {c["name"] for c in data["checks"]}
    assert {
        "docker engine",
        "privileges",
        "kernel macvlan",
        "kernel overlayfs",
        "dnsmasq",
        "debootstrap",
        "root writable",
    } <= names
    table = doctor(lab.env)
    assert table.returncode == 0 and "docker engine" in table.stdout


def test_doctor_fails_with_fix_when_docker_is_down(lab: Any, tmp_path: Path) -> None:
    env = {**lab.env, "DOCKER_HOST": f"unix://{tmp_path}/no-dockerd.sock"}
    result = doctor(env, "--json")
    assert result.returncode == 3
    data = json.loads(result.stdout)
    docker_check = next(c for c in data["checks"] if c["name"] == "docker engine")
    assert not docker_check["ok"]
    assert "dockerd" in docker_check["fix"] or "docker.io" in docker_check["fix"]
    human = doctor(env)
    assert human.returncode == 3
    assert "FAIL" in human.stdout and "docker engine" in human.stderr


def test_doctor_fails_when_parent_missing(lab: Any) -> None:
    result = doctor({**lab.env, "DEVBOX_PARENT": "dbxnosuchnic0"}, "--json")
    assert result.returncode == 3
    data = json.loads(result.stdout)
    parent = [c for c in data["checks"] if not c["ok"] and c["needed"]]
    assert any("dbxnosuchnic0" in (c["detail"] + c["fix"]) for c in parent)
