"""``devbox dockeruser stats --watch``: the refresh loop ends on Ctrl-C, on ``--for``, and with
the service's one-line error when the service is lost; /opt is measured every OPT_EVERY
refreshes and carried over in between (no service: a fake API)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from devbox.api.client import Client
from devbox.cli.dockeruser import stats as stats_cli
from devbox.errors import NotReadyError


class FakeApi:
    """``GET /stats`` answering one row; ``then`` is raised from call number ``fail_at``."""

    def __init__(self, fail_at: int, then: BaseException) -> None:
        self.queries: list[dict[str, Any]] = []
        self.fail_at, self.then = fail_at, then

    def get(self, path: str, **query: Any) -> list[dict[str, Any]]:
        assert path == "/stats"
        self.queries.append(query)
        if len(self.queries) >= self.fail_at:
            raise self.then
        size = None if query["no_size"] else 4096
        return [{"name": "c1", "owner": "root", "state": "running", "opt_bytes": size}]


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stats_cli, "INTERVAL", 0.001)
    monkeypatch.setattr(stats_cli, "OPT_EVERY", 2)


def watch(api: FakeApi, seconds: float = 60.0) -> None:
    stats_cli._watch(api, {"names": "c1", "no_size": False}, True, seconds)  # type: ignore[arg-type]


def test_ctrl_c_ends_the_watch_cleanly(capsys: pytest.CaptureFixture[str]) -> None:
    api = FakeApi(4, KeyboardInterrupt())
    watch(api)
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(lines) == 3
    # /opt measured on refreshes 1 and 3, carried over on 2
    assert [q["no_size"] for q in api.queries[:3]] == [False, True, False]
    assert [rows[0]["opt_bytes"] for rows in lines] == [4096, 4096, 4096]


def test_a_lost_service_ends_the_watch_with_its_error() -> None:
    api = FakeApi(2, NotReadyError("the devbox service is not running"))
    with pytest.raises(NotReadyError):
        watch(api)
    assert len(api.queries) == 2


def test_a_real_client_on_a_missing_socket_is_not_ready(tmp_path: Path) -> None:
    api = Client(tmp_path / "no.sock", timeout=5)
    with pytest.raises(NotReadyError, match="not running"):
        stats_cli._watch(api, {"names": None, "no_size": True}, False, 5.0)


def test_for_bounds_the_watch(capsys: pytest.CaptureFixture[str]) -> None:
    api = FakeApi(10_000, KeyboardInterrupt())
    watch(api, seconds=0.0)
    assert len(api.queries) == 1
    assert len(capsys.readouterr().out.splitlines()) == 1
