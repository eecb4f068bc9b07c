"""Requests to the daemon (``<root>/run/<kind>/<name>``), on real files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from devbox.paths import Layout
from devbox.state import daemon_requests
from devbox.state.daemon_requests import ADOPT, RELEASE


def test_asked_names_are_taken_once_each_and_sorted_per_kind(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    assert daemon_requests.take(layout, RELEASE) == []  # no inbox yet
    for key in ("b.lan0", "a.lan0", "b.lan0"):  # asked again: still one request
        daemon_requests.ask(layout, RELEASE, key)
    daemon_requests.ask(layout, ADOPT, "web")
    assert daemon_requests.take(layout, RELEASE) == ["a.lan0", "b.lan0"]
    assert daemon_requests.take(layout, RELEASE) == []
    assert daemon_requests.take(layout, ADOPT) == ["web"]  # its own inbox
    for kind in (RELEASE, ADOPT):
        assert daemon_requests.inbox(layout, kind).stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize("name", ["", "a/b", "../x.lan0", ".hidden"])
def test_a_name_that_is_not_a_file_name_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError):
        daemon_requests.ask(Layout(tmp_path), RELEASE, name)
    assert not (tmp_path / "x.lan0").exists()


def test_an_unknown_kind_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        daemon_requests.ask(Layout(tmp_path), "../leases", "a.lan0")
    assert not (tmp_path / "leases").exists()


def test_a_link_in_the_inbox_is_dropped_never_followed(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    daemon_requests.ask(layout, RELEASE, "a.lan0")
    target = tmp_path / "precious"
    target.write_text("keep")
    folder = daemon_requests.inbox(layout, RELEASE)
    os.symlink(target, folder / "b.lan0")
    assert daemon_requests.take(layout, RELEASE) == ["a.lan0"]
    assert target.read_text() == "keep"
    assert os.listdir(folder) == []
