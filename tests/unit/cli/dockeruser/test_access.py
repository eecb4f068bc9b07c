"""``devbox dockeruser logs``: the log printed once, or followed as it grows (no service)."""

from __future__ import annotations

from typing import Any

import pytest

from devbox.cli import remote
from devbox.cli.dockeruser import access


class FakeApi:
    """The service's log endpoint over a log that grows by one line a call."""

    def __init__(self) -> None:
        self.offsets: list[int | None] = []

    def get(self, path: str, **query: Any) -> dict[str, Any]:
        assert path == "/containers/c1/log"
        self.offsets.append(query.get("offset"))
        n = len(self.offsets)
        return {"text": f"line {n}\n", "end": n * 7}


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> FakeApi:
    fake = FakeApi()
    monkeypatch.setattr(remote, "client", lambda: fake)
    return fake


def test_logs_prints_the_log_once(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    access.logs("c1")
    assert capsys.readouterr().out == "line 1\n"
    assert api.offsets == [None]


def test_follow_asks_for_what_came_after(
    api: FakeApi, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(access, "FOLLOW_FOR", 1.2)  # ends by itself: bounded like every loop
    access.logs("c1", follow=True)
    out = capsys.readouterr().out.splitlines()
    assert out == [f"line {n}" for n in range(1, len(out) + 1)]
    assert api.offsets == [None] + [n * 7 for n in range(1, len(api.offsets))]
