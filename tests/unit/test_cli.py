"""The CLI as a user meets it: help, version, errors and exit codes, in an isolated HOME."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devbox.__main__ import main

ROLES = ("dockeruser", "containerauthor", "registryserver", "common")


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "devbox", *args], capture_output=True,
                          text=True, env=full_env, check=False)


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    return {"HOME": str(tmp_path), "DEVBOX_ROOT": str(tmp_path / "root")}


def test_help_lists_roles_with_purpose(home: dict[str, str]) -> None:
    result = run_cli("--help", env=home)
    assert result.returncode == 0
    for line in result.stdout.splitlines():
        if line.strip().startswith("common"):
            assert "lab" in line.lower()
    assert "common" in result.stdout


def test_version(home: dict[str, str]) -> None:
    from devbox import __version__

    result = run_cli("--version", env=home)
    assert result.returncode == 0 and __version__ in result.stdout


def test_unknown_command_is_usage_error(home: dict[str, str]) -> None:
    result = run_cli("common", "frobnicate", env=home)
    assert result.returncode == 2
    assert "No such command" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_config_is_one_line_error_naming_file_and_key(tmp_path: Path,
                                                          home: dict[str, str]) -> None:
    cfgdir = tmp_path / ".config" / "devbox"
    cfgdir.mkdir(parents=True)
    (cfgdir / "config.toml").write_text("[lab]\nsubnet = \"nope\"\n")
    result = run_cli("common", "config", "show", env=home)
    assert result.returncode == 2
    first = result.stderr.splitlines()[0]
    assert first.startswith("error: ") and str(cfgdir / "config.toml") in first
    assert "lab.subnet" in first
    assert "Traceback" not in result.stderr


def test_config_show_json_reports_sources(home: dict[str, str]) -> None:
    import json

    result = run_cli("common", "config", "show", "--json",
                     env={**home, "DEVBOX_LAB_LEASE_TIME": "5m"})
    assert result.returncode == 0, result.stderr
    data = {row["name"]: row for row in json.loads(result.stdout)}
    assert data["lab.lease_time"]["value"] == "5m"
    assert data["lab.lease_time"]["source"] == "env DEVBOX_LAB_LEASE_TIME"
    assert data["root"]["source"] == "env DEVBOX_ROOT"


def test_debug_shows_traceback_only_when_asked(home: dict[str, str]) -> None:
    env = {**home, "DEVBOX_DHCP_TIMEOUT": "x"}
    plain = run_cli("common", "config", "show", env=env)
    debug = run_cli("--debug", "common", "config", "show", env=env)
    assert "Traceback" not in plain.stderr
    assert "Traceback" in debug.stderr
    assert plain.returncode == debug.returncode == 2


def test_main_in_process_returns_exit_code(monkeypatch: pytest.MonkeyPatch,
                                           home: dict[str, str]) -> None:
    for k, v in home.items():
        monkeypatch.setenv(k, v)
    assert main(["--version"]) == 0
    assert main(["common", "nope"]) == 2


def test_help_is_fast(home: dict[str, str]) -> None:
    # Not a timing assertion (we never assert timings); it proves the lazy-import rule:
    # `devbox --help` must not import the heavy libraries.
    code = ("import sys; from devbox.__main__ import main; main(['--help']); "
            "heavy = [m for m in ('docker', 'pyroute2', 'paramiko', 'jinja2', 'P4', 'requests') "
            "if m in sys.modules]; print('HEAVY', heavy)")
    t0 = time.monotonic()
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, **home}, check=False)
    assert "HEAVY []" in result.stdout, result.stdout + result.stderr
    assert time.monotonic() - t0 >= 0
