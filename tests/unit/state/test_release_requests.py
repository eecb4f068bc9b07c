"""A detach's requests to the daemon (``<root>/run/release/<key>``), on real files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from devbox.paths import Layout
from devbox.state import release_requests


def test_asked_keys_are_taken_once_each_and_sorted(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    assert release_requests.take(layout) == []  # no inbox yet
    for key in ("b.lan0", "a.lan0", "b.lan0"):  # asked again: still one request
        release_requests.ask(layout, key)
    assert release_requests.take(layout) == ["a.lan0", "b.lan0"]
    assert release_requests.take(layout) == []
    assert layout.release_requests.stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize("key", ["", "a/b", "../x.lan0", ".hidden"])
def test_a_key_that_is_not_a_file_name_is_refused(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError):
        release_requests.ask(Layout(tmp_path), key)
    assert not (tmp_path / "x.lan0").exists()


def test_a_link_in_the_inbox_is_dropped_never_followed(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    release_requests.ask(layout, "a.lan0")
    target = tmp_path / "precious"
    target.write_text("keep")
    os.symlink(target, layout.release_requests / "b.lan0")
    assert release_requests.take(layout) == ["a.lan0"]
    assert target.read_text() == "keep"
    assert os.listdir(layout.release_requests) == []
