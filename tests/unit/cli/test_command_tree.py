"""devbox.cli.build_command: only the branch of the command tree argv names is built (the
whole tree for help, completion and words it does not know)."""

from __future__ import annotations

from typing import Any

import pytest

from devbox.cli import build_command


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
    "argv", [[], ["--help"], ["dockeruser"], ["dockeruser", "no-such-command"], ["nosuchrole"]]
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
