"""The CLI as a user meets it: help, version, errors and exit codes, in an isolated HOME."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from devbox.__main__ import main
from devbox.cli import build_command
from tests.refusals import assert_refused

ROLES = ("dockeruser", "containerauthor", "registryserver", "common")


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "devbox", *args],
        capture_output=True,
        text=True,
        env=full_env,
        check=False,
    )


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    return {"HOME": str(tmp_path), "DEVBOX_ROOT": str(tmp_path / "root")}


# each role and a word its one-line purpose in ``devbox --help`` must hold
ROLE_PURPOSE = {
    "dockeruser": "clone",
    "containerauthor": "images",
    "registryserver": "registry",
    "common": "lab",
}


def _commands(help_text: str) -> dict[str, str]:
    """The Commands section of a help page: name -> its (possibly wrapped) description."""
    out: dict[str, str] = {}
    lines = help_text.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.strip() == "Commands:")
    current = ""
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        head = line[:24].strip()
        if line.startswith("  ") and head and not line.startswith(" " * 6):
            current, _, desc = line.strip().partition(" ")
            out[current] = desc.strip()
        elif current:
            out[current] += " " + line.strip()
    return out


def test_help_lists_roles_with_purpose(home: dict[str, str]) -> None:
    result = run_cli("--help", env=home)
    assert result.returncode == 0, result.stderr
    commands = _commands(result.stdout)
    for role, word in ROLE_PURPOSE.items():
        assert role in commands, f"{role} missing from devbox --help:\n{result.stdout}"
        assert word in commands[role].lower(), (role, commands[role])


def test_version(home: dict[str, str]) -> None:
    from devbox import __version__

    result = run_cli("--version", env=home)
    assert result.returncode == 0 and __version__ in result.stdout


def test_unknown_command_is_usage_error(home: dict[str, str]) -> None:
    result = run_cli("common", "frobnicate", env=home)
    assert result.returncode == 2
    assert "No such command" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_config_is_one_line_error_naming_file_and_key(
    tmp_path: Path, home: dict[str, str]
) -> None:
    cfgdir = tmp_path / ".config" / "devbox"
    cfgdir.mkdir(parents=True)
    (cfgdir / "config.toml").write_text('[lab]\nsubnet = "nope"\n')
    result = run_cli("common", "config", "show", env=home)
    first = assert_refused(result, 2, str(cfgdir / "config.toml"), "lab.subnet")
    assert result.stderr.splitlines()[0] == first and "key 'lab.subnet'" in first
    assert not (tmp_path / "root").exists()


def test_config_show_json_reports_sources(home: dict[str, str]) -> None:
    import json

    result = run_cli(
        "common", "config", "show", "--json", env={**home, "DEVBOX_LAB_LEASE_TIME": "5m"}
    )
    assert result.returncode == 0, result.stderr
    data = {row["name"]: row for row in json.loads(result.stdout)}
    assert data["lab.lease_time"]["value"] == "5m"
    assert data["lab.lease_time"]["source"] == "env DEVBOX_LAB_LEASE_TIME"
    assert data["root"]["source"] == "env DEVBOX_ROOT"


def test_debug_shows_traceback_only_when_asked(home: dict[str, str]) -> None:
    env = {**home, "DEVBOX_DHCP_TIMEOUT": "x"}
    plain = run_cli("common", "config", "show", env=env)
    debug = run_cli("--debug", "common", "config", "show", env=env)
    assert_refused(plain, 2, "env DEVBOX_DHCP_TIMEOUT: bad value", "dhcp_timeout")
    assert "Traceback" in debug.stderr and debug.returncode == 2
    assert [ln for ln in debug.stderr.splitlines() if ln.startswith("error: ")] == [
        ln for ln in plain.stderr.splitlines() if ln.startswith("error: ")
    ]


def test_main_in_process_returns_exit_code(
    monkeypatch: pytest.MonkeyPatch, home: dict[str, str]
) -> None:
    for k, v in home.items():
        monkeypatch.setenv(k, v)
    assert main(["--version"]) == 0
    assert main(["common", "nope"]) == 2


HEAVY = ("docker", "pyroute2", "paramiko", "jinja2", "P4", "requests", "urllib3")
# runs ``devbox ARGS`` in this interpreter and prints, at exit whatever happened, the heavy
# libraries and the devbox services/adapters that got imported
_IMPORT_PROBE = """
import atexit, json, sys
heavy = {heavy!r}
def report():
    mods = sorted(m for m in sys.modules if m.split('.')[0] in heavy
                  or m.startswith(('devbox.services', 'devbox.adapters')))
    sys.stderr.write('IMPORTED ' + json.dumps(mods) + '\\n')
atexit.register(report)
from devbox.__main__ import main
sys.exit(main({args!r}))
"""


@pytest.mark.parametrize(
    "args", [["--help"], *[[role, "--help"] for role in ROLES], ["dockeruser", "clone", "--help"]]
)
def test_help_imports_no_heavy_library(home: dict[str, str], args: list[str]) -> None:
    """The lazy-import rule behind a fast ``devbox --help`` (HACKING.md): help imports none of
    docker/pyroute2/paramiko/jinja2/P4, nor any service or adapter. No clock is read."""
    import json

    code = _IMPORT_PROBE.format(heavy=HEAVY, args=args)
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, **home, "NO_COLOR": "1"},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout
    line = next(ln for ln in result.stderr.splitlines() if ln.startswith("IMPORTED "))
    assert json.loads(line.removeprefix("IMPORTED ")) == []


# what a client command's start-up imports besides typer and http.client (every command pays
# for it: ~0.25 s of a list-containers on a 2-core host is start-up)
_STARTUP_PROBE = """
import json, sys
from devbox.cli import build_command
build_command({args!r})
import devbox.api.client, devbox.cli.remote, devbox.config
print(json.dumps(sorted(sys.modules)))
"""


@pytest.mark.parametrize(
    ("args", "role"),
    [
        (["dockeruser", "list-containers", "--json"], "dockeruser"),
        (["list-containers", "--all"], "dockeruser"),
        (["common", "lab", "up"], "common"),
    ],
)
def test_a_command_imports_only_its_role_and_what_it_uses(
    home: dict[str, str], args: list[str], role: str
) -> None:
    """The other roles' command modules, the step runner (a job's stream needs it, not the
    client) and the limits parser (a limits setting's value) are left out of a command's
    start-up. No clock is read."""
    import json

    result = subprocess.run(
        [sys.executable, "-c", _STARTUP_PROBE.format(args=args)],
        capture_output=True,
        text=True,
        env={**os.environ, **home},
        check=True,
    )
    mods = set(json.loads(result.stdout))
    assert f"devbox.cli.{role}" in mods
    others = {f"devbox.cli.{r}" for r in ROLES if r != role}
    assert not mods & (others | {"devbox.steps", "devbox.model.limits"})


# ---- build_command: only the branch of the command tree argv names is built (the whole tree
# for help, completion and words it does not know)
def _names(command: Any) -> set[str]:
    return set(getattr(command, "commands", {}))


def test_a_command_builds_only_its_branch() -> None:
    root = build_command(["dockeruser", "list-containers", "--json"])
    assert _names(root) == {"dockeruser"}
    assert _names(root.commands["dockeruser"]) == {"list-containers"}  # type: ignore[attr-defined]


def test_root_options_and_their_values_are_not_command_words() -> None:
    root = build_command(["--root", "/srv/x", "-v", "common", "lab", "up", "--hosts", "2"])
    lab = root.commands["common"].commands["lab"]  # type: ignore[attr-defined]
    assert _names(root) == {"common"} and _names(lab) == {"up"}


def test_a_top_level_alias_builds_alone() -> None:
    assert _names(build_command(["make-dev-container", "x"])) == {"make-dev-container"}


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--help"],
        ["--help", "ssh"],
        ["-h", "common", "lab"],
        ["dockeruser"],
        ["dockeruser", "no-such-command"],
        ["nosuchrole"],
    ],
)
def test_help_and_unknown_words_see_the_whole_level(argv: list[str]) -> None:
    full = build_command(None)
    root = build_command(argv)
    if argv[:1] == ["dockeruser"]:
        sub = root.commands["dockeruser"]  # type: ignore[attr-defined]
        assert _names(sub) == _names(full.commands["dockeruser"])  # type: ignore[attr-defined]
    else:
        assert _names(root) == _names(full)


def test_completion_builds_the_whole_tree(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_DEVBOX_COMPLETE", "complete_bash")
    assert _names(build_command(["dockeruser", "ssh"])) == _names(build_command(None))


def test_the_module_level_apps_are_left_whole() -> None:
    build_command(["dockeruser", "ssh"])
    from devbox.cli.dockeruser import app

    assert len(app.registered_commands) > 1
