"""``devbox dockeruser branches`` and ``checkout`` as a user meets them (no Docker needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devbox.__main__ import main

MAP = """
[[branch]]
name = "main"
vcs = "git"
url = "/srv/git/main.git"
image = "img:main"
license = "lic"

[[branch]]
name = "release/*"
vcs = "p4"
depot = "//depot/{{ branch }}"
"""


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    map_path = tmp_path / "branches.toml"
    map_path.write_text(MAP)
    monkeypatch.setenv("DEVBOX_ROOT", str(tmp_path / "root"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("DEVBOX_BRANCHES_MAP", str(map_path))
    return tmp_path


def test_branches_json(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dockeruser", "branches", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["source"] == str(env / "branches.toml")
    assert [b["name"] for b in data["branches"]] == ["main", "release/*"]
    assert data["branches"][0]["image"] == "img:main"


def test_branches_table(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dockeruser", "branches"]) == 0
    out = capsys.readouterr().out
    assert "main" in out and "release/*" in out and "/srv/git/main.git" in out


def test_shipped_branches_listing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("DEVBOX_BRANCHES_MAP", raising=False)
    assert main(["dockeruser", "branches", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["branches"]


def test_unknown_branch_is_a_user_error(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dockeruser", "checkout", "c1", "--branch", "mian"]) == 2
    err = capsys.readouterr().err
    assert "unknown branch 'mian'" in err and "did you mean: main" in err
    assert not (env / "root" / "c1").exists()


@pytest.mark.parametrize("bad", ["-rf", "a b", "x..y", "a\nb"])
def test_bad_branch_names_exit_2(env: Path, bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dockeruser", "checkout", "c1", "--branch", bad]) == 2
    assert "branch name" in capsys.readouterr().err


def test_bad_container_name(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dockeruser", "checkout", "Bad_Name", "--branch", "main"]) == 2
    assert "invalid container name" in capsys.readouterr().err


def test_checkout_help_explains(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dockeruser", "checkout", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--update" in out and "--branch" in out and "--password-stdin" in out
