"""A user's request carries their own Perforce identity (``p4``: port, user, charset, ticket):
checked (never rsh:, no whitespace or control characters, a ticket-shaped ticket), then the
job's settings for it, with the ticket in a one-ticket file of the job's own that goes when
the operation ends. Root's requests are as they came."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from devbox import config
from devbox.adapters.p4_settings import P4Settings
from devbox.api import operations as ops
from devbox.api import p4_identity
from devbox.api.operations import Request
from devbox.errors import OperationFailed, UserError
from devbox.model.owners import Caller
from devbox.state import audit_log
from tests.fakes.p4fake import FakeP4, FakeServer

USER = Caller(uid=4321, gid=4321, user="dbxu9", groups=frozenset({"devbox"}))
ROOT = Caller(uid=0, gid=0, user="root", admin=True)
PORT = "fake.example.com:1666"
TICKET = "0123456789ABCDEF0123456789ABCDEF"


def _request(tmp_path: Path, body: dict[str, Any], caller: Caller = USER) -> Request:
    env = {
        "DEVBOX_ROOT": str(tmp_path / "root"),
        "DEVBOX_P4_PORT": "service.example.com:1666",
        "DEVBOX_P4_USER": "service-account",
        "P4TICKETS": str(tmp_path / "root-home" / ".p4tickets"),  # the service's own
    }
    return Request(config.load(environ=env, files=()), caller, body, lambda _event: None)


def _folder(tmp_path: Path) -> Path:
    return tmp_path / "root" / "run" / p4_identity.P4_TICKETS_DIR


def test_a_users_identity_is_checked_and_defaults_to_their_login() -> None:
    body = {"p4": {"port": "ssl:" + PORT, "user": "alice", "charset": "utf8", "ticket": TICKET}}
    assert p4_identity.p4_identity(USER, body) == {
        "port": "ssl:" + PORT,
        "user": "alice",
        "charset": "utf8",
        "ticket": TICKET,
    }
    assert p4_identity.p4_identity(USER, {}) == {"user": "dbxu9"}  # no p4: their login, no ticket
    assert p4_identity.p4_identity(USER, {"p4": {"port": PORT, "user": ""}}) == {
        "port": PORT,
        "user": "dbxu9",
    }
    assert p4_identity.p4_identity(ROOT, body) is None  # root's settings come in its header


@pytest.mark.parametrize(
    ("p4", "match"),
    [
        ({"port": "rsh:/bin/sh -c id"}, "not a Perforce server address"),
        ({"port": "rsh:p4d"}, "not a Perforce server address"),
        ({"port": "rsh:1666"}, "not a Perforce server address"),
        ({"port": "RSH:1666"}, "not a Perforce server address"),
        ({"port": f"{PORT}\nP4USER=root"}, "not a Perforce server address"),
        ({"port": f"{PORT} x"}, "not a Perforce server address"),
        ({"user": "alice bob"}, "not a Perforce user name"),
        ({"user": "alice\n"}, "not a Perforce user name"),
        ({"user": "a\x00b"}, "not a Perforce user name"),
        ({"user": "-alice"}, "not a Perforce user name"),
        ({"user": ["alice"]}, "'p4.user' must be a string"),
        ({"user": "a" * 300}, "'p4.user' must be a string of at most"),
        ({"charset": "utf8 x"}, "not a Perforce charset"),
        ({"ticket": "ABC"}, "not a Perforce ticket"),
        ({"ticket": TICKET + "\nother=root:" + TICKET}, "not a Perforce ticket"),
        ({"ticket": TICKET + ":x"}, "not a Perforce ticket"),
        ({"ticket": "A" * 257}, "must be a string of at most"),
        ({"password": "x"}, "unknown keys: password"),
        ("alice", "'p4' must be an object"),
    ],
)
def test_bad_identities_are_one_line_user_errors(tmp_path: Path, p4: Any, match: str) -> None:
    with pytest.raises(UserError, match=match):
        p4_identity.p4_identity(USER, {"p4": p4})
    with pytest.raises(UserError, match=match), ops.callers_p4(_request(tmp_path, {"p4": p4})):
        pass
    assert not _folder(tmp_path).exists() or not list(_folder(tmp_path).iterdir())


def test_a_users_job_gets_their_settings_and_a_ticket_file_of_its_own(tmp_path: Path) -> None:
    server = FakeServer(PORT)
    server.add_user("alice", "pw")
    server.tickets[TICKET] = "alice"
    body = {"p4": {"port": PORT, "user": "alice", "charset": "utf8", "ticket": TICKET}}
    req = _request(tmp_path, body)
    with ops.callers_p4(req) as own:
        settings = P4Settings.from_config(own.cfg)
        assert (settings.port, settings.user, settings.charset) == (PORT, "alice", "utf8")
        path = Path(settings.ticket_file)
        assert path.parent == _folder(tmp_path)
        assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert path.read_text() == f"{PORT}=alice:{TICKET}\n"
        # the P4 API finds the ticket there: the job is logged in as alice, no password
        p4 = FakeP4(server)
        p4.port, p4.user, p4.ticket_file = settings.port, settings.user, settings.ticket_file
        p4.connect()
        assert p4.run("login", "-s")[0]["User"] == "alice"
    assert not path.exists() and list(_folder(tmp_path).iterdir()) == []
    assert req.cfg.text("p4.user") == "service-account"  # the request's own config untouched


def test_the_ticket_file_goes_when_the_operation_fails(tmp_path: Path) -> None:
    req = _request(tmp_path, {"p4": {"ticket": TICKET}})
    with pytest.raises(RuntimeError), ops.callers_p4(req) as own:
        path = Path(own.cfg.text("p4.tickets"))
        # no port sent: the service's server, with the caller's login name
        assert path.read_text() == f"service.example.com:1666=dbxu9:{TICKET}\n"
        raise RuntimeError("the checkout failed")
    assert not path.exists()


def test_no_ticket_is_an_empty_file_never_the_services_tickets(tmp_path: Path) -> None:
    with ops.callers_p4(_request(tmp_path, {"p4": {"user": "service-account"}})) as own:
        settings = P4Settings.from_config(own.cfg)
        assert settings.user == "service-account"
        assert settings.ticket_file != str(tmp_path / "root-home" / ".p4tickets")
        assert Path(settings.ticket_file).read_text() == ""
    with ops.callers_p4(_request(tmp_path, {})) as own:  # an older client: no p4 at all
        assert P4Settings.from_config(own.cfg).user == "dbxu9"
        assert Path(own.cfg.text("p4.tickets")).parent == _folder(tmp_path)


def test_roots_request_is_as_it_came(tmp_path: Path) -> None:
    req = _request(tmp_path, {"p4": {"user": "alice", "ticket": TICKET}}, ROOT)
    with ops.callers_p4(req) as own:
        assert own is req
        assert P4Settings.from_config(own.cfg).user == "service-account"
    assert not _folder(tmp_path).exists()


def test_a_planted_tickets_folder_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir()
    _folder(tmp_path).parent.mkdir(parents=True)
    _folder(tmp_path).symlink_to(target)
    with (
        pytest.raises(OperationFailed),
        ops.callers_p4(_request(tmp_path, {"p4": {"ticket": TICKET}})),
    ):
        pass
    assert list(target.iterdir()) == []


def test_the_audit_log_hides_the_ticket() -> None:
    body: dict[str, Any] = {"name": "c1", "p4": {"port": PORT, "user": "alice", "ticket": TICKET}}
    assert audit_log.redact(body) == {
        "name": "c1",
        "p4": {"port": PORT, "user": "alice", "ticket": "<hidden>"},
    }
    assert TICKET not in str(audit_log.redact(body)) and body["p4"]["ticket"] == TICKET


def test_the_service_sweeps_what_a_killed_job_left(tmp_path: Path) -> None:
    cfg = config.load(environ={"DEVBOX_ROOT": str(tmp_path / "root")}, files=())
    assert p4_identity.sweep(cfg) == []  # no folder yet
    folder = tmp_path / "root" / "run" / p4_identity.P4_TICKETS_DIR
    folder.mkdir(parents=True, mode=0o700)
    (folder / "left").write_text("ssl:p4:1666=pat:ABC\n")
    outside = tmp_path / "outside"
    outside.write_text("keep\n")
    (folder / "link").symlink_to(outside)  # removed itself, never followed
    assert sorted(p4_identity.sweep(cfg)) == ["left", "link"]
    assert list(folder.iterdir()) == [] and outside.read_text() == "keep\n"
