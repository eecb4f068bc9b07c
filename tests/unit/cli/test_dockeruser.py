"""dockeruser commands refuse bad input before anything is made (clone, run-on, prune, make,
remove)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from devbox.services.runon import RunResult
from tests.refusals import assert_refused


def _cli(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "NO_COLOR": "1",
        "HOME": str(tmp_path),
        "DEVBOX_ROOT": str(tmp_path / "root"),
    }
    return subprocess.run(
        [sys.executable, "-m", "devbox", "dockeruser", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def _nothing_made(tmp_path: Path) -> None:
    assert not (tmp_path / "root").exists(), "refused, yet the devbox root was made"


def test_run_on_needs_a_command(tmp_path: Path) -> None:
    result = _cli("run-on", "a", "b", tmp_path=tmp_path)
    assert_refused(result, 2, "no command given", "after '--'")
    _nothing_made(tmp_path)


def test_run_on_needs_targets(tmp_path: Path) -> None:
    result = _cli("run-on", "--", "true", tmp_path=tmp_path)
    assert_refused(result, 2, "no containers given", "--clones-of")
    _nothing_made(tmp_path)


def test_run_on_splits_at_double_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    from devbox.__main__ import main
    from devbox.cli import remote

    seen: dict[str, object] = {}

    def fake(method: str, path: str, body: dict[str, object], title: str) -> list[object]:
        # what the service is asked (it runs run-on, as the caller); no service here
        assert (method, path) == ("POST", "/run-on")
        seen.update(body)
        names = body["names"]
        assert isinstance(names, list)
        return [RunResult(n, 0, 0.01, stdout="ok\n").to_dict() for n in names]

    monkeypatch.setattr(remote, "run", fake)
    rc = main(
        [
            "dockeruser",
            "run-on",
            "a",
            "b",
            "--clones-of",
            "src",
            "--json",
            "--",
            "echo",
            "x y",
            "--json",
        ]
    )
    assert rc == 0
    assert seen["names"] == ["a", "b"]
    assert seen["command"] == "echo 'x y' --json"
    assert seen["clones_of"] == "src"
    rc = main(["dockeruser", "run-on", "a", "--json", "--", "echo a; echo b"])
    assert rc == 0 and seen["command"] == "echo a; echo b"


def test_prune_rejects_bad_duration(tmp_path: Path) -> None:
    result = _cli("prune-combos", "--stopped-for", "30x", "--yes", tmp_path=tmp_path)
    assert_refused(result, 2, "'30x' is not a duration", "30d")
    _nothing_made(tmp_path)


def test_make_combo_flag_errors(tmp_path: Path) -> None:
    result = _cli("make-dev-container", "--product", "acme", tmp_path=tmp_path)
    assert_refused(result, 2, "--product and --release go together", "--release 5.2")
    result = _cli("make-dev-container", tmp_path=tmp_path)
    assert_refused(result, 2, "NAME and --branch are required", "--branch main")
    result = _cli("make-dev-container", "--product", "nope", "--release", "1", tmp_path=tmp_path)
    assert_refused(result, 2, "unknown product 'nope'", "known products: acme")
    result = _cli(
        "make-dev-container",
        "--product",
        "acme",
        "--release",
        "5.2",
        "--patch",
        "../etc/passwd",
        tmp_path=tmp_path,
    )
    assert_refused(result, 2, "invalid --patch '../etc/passwd'", "changelist number")
    _nothing_made(tmp_path)


def test_clone_rejects_bad_input_before_docker(tmp_path: Path) -> None:
    result = _cli("clone", "Bad Name", "--count", "2", tmp_path=tmp_path)
    assert_refused(result, 2, "invalid source container name 'Bad Name'", "DNS labels")
    _nothing_made(tmp_path)


def test_remove_needs_name_or_clones_of(tmp_path: Path) -> None:
    result = _cli("remove-dev-container", "--yes", tmp_path=tmp_path)
    assert_refused(result, 2, "which container?", "--clones-of SRC")
    _nothing_made(tmp_path)
