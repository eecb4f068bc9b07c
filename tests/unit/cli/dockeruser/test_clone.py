"""``devbox dockeruser clone``, its client side: the SSH config entries it writes after the
service made the clones, from the facts the clone job handed back (the service is asked only
for a clone without them, as from an older devbox's host). An entry it cannot write (the engine
went away between the clone and the question) is a warning that names the clone and how to get
the entry, not a failed command that loses the result of clones already made (no service: a
fake API)."""

from __future__ import annotations

from typing import Any

import pytest

from devbox.api import client_ssh
from devbox.cli import remote
from devbox.cli.dockeruser import clone as clone_cli
from devbox.errors import NotReadyError


class FakeApi:
    """``GET /containers/NAME``; the names in ``gone`` fail as a restarting engine does."""

    def __init__(self, gone: set[str]) -> None:
        self.gone, self.closed = gone, False
        self.asked: list[str] = []

    def get(self, path: str, **query: Any) -> dict[str, Any]:
        name = path.removeprefix("/containers/")
        self.asked.append(name)
        if name in self.gone:
            raise NotReadyError(f"inspect container {name}: Docker engine not reachable")
        return {"name": name, "ip": "10.0.0.9", "user": "dev", "host_keys": []}

    def close(self) -> None:
        self.closed = True


def test_an_entry_that_cannot_be_written_is_a_warning_and_the_others_are_written(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    api = FakeApi(gone={"c2"})
    written: list[str] = []
    monkeypatch.setattr(remote, "client", lambda: api)
    monkeypatch.setattr(remote, "local_root", lambda: False)
    monkeypatch.setattr(remote, "via_host", lambda: None)
    monkeypatch.setattr(client_ssh, "record", lambda facts, **_: written.append(facts["name"]))
    clone_cli._write_ssh_entries(dict.fromkeys(["c1", "c2", "c3"]))
    assert api.asked == ["c1", "c2", "c3"] and written == ["c1", "c3"] and api.closed
    err = capsys.readouterr().err
    assert "c2" in err and "devbox dockeruser ssh c2" in err and "not reachable" in err


class GoneService(FakeApi):
    """The service itself gone after the clones: every question fails to connect."""

    def get(self, path: str, **query: Any) -> dict[str, Any]:
        self.asked.append(path.removeprefix("/containers/"))
        raise ConnectionRefusedError(111, "Connection refused")


def test_a_service_gone_is_asked_once_and_every_clone_gets_its_warning(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    api = GoneService(gone=set())
    monkeypatch.setattr(remote, "client", lambda: api)
    monkeypatch.setattr(remote, "local_root", lambda: False)
    monkeypatch.setattr(remote, "via_host", lambda: None)
    monkeypatch.setattr(client_ssh, "record", lambda facts, **_: None)
    clone_cli._write_ssh_entries(dict.fromkeys(["c1", "c2", "c3"]))
    assert api.asked == ["c1"] and api.closed
    err = capsys.readouterr().err
    assert all(f"devbox dockeruser ssh {n}" in err for n in ("c1", "c2", "c3"))
    assert "Connection refused" in err


def test_the_facts_the_job_handed_back_are_written_and_nothing_is_asked(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """50 clones asked one by one cost the command 2.7 s at the end (a GET each, on a host
    busy with the clones' boots): the job's reply carries each clone's facts instead."""
    api = FakeApi(gone=set())
    written: list[dict[str, Any]] = []
    monkeypatch.setattr(remote, "client", lambda: api)
    monkeypatch.setattr(remote, "local_root", lambda: False)
    monkeypatch.setattr(remote, "via_host", lambda: None)
    monkeypatch.setattr(client_ssh, "record", lambda facts, **_: written.append(facts))
    facts = {"name": "c1", "ip": "10.0.0.7", "user": "dev", "host_keys": ["ssh-ed25519 AAAA"]}
    clone_cli._write_ssh_entries({"c1": facts, "c2": None})
    assert written[0] is facts and [f["name"] for f in written] == ["c1", "c2"]
    assert api.asked == ["c2"] and api.closed
    assert capsys.readouterr().err == ""


def test_facts_about_another_container_are_not_written(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A host's service answering for c1 with c9's name would write c9's entry and host keys
    into the caller's ~/.ssh: refused, a warning for c1, the others written."""
    api = FakeApi(gone=set())
    written: list[str] = []
    monkeypatch.setattr(remote, "client", lambda: api)
    monkeypatch.setattr(remote, "local_root", lambda: False)
    monkeypatch.setattr(remote, "via_host", lambda: None)
    monkeypatch.setattr(client_ssh, "record", lambda facts, **_: written.append(facts["name"]))
    other = {"name": "c9", "ip": "10.0.0.7", "user": "dev", "host_keys": []}
    mine = {"name": "c2", "ip": "10.0.0.8", "user": "dev", "host_keys": []}
    clone_cli._write_ssh_entries({"c1": other, "c2": mine, "c3": "not facts"})  # type: ignore[dict-item]
    assert written == ["c2"] and api.asked == []
    err = " ".join(capsys.readouterr().err.split())  # rich wraps long warnings
    assert "c1: no SSH config entry written" in err and "another container's SSH" in err
    assert "c3: no SSH config entry written" in err
