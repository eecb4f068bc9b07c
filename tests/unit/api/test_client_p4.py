"""The caller's Perforce identity the client sends with a request (devbox.api.client_p4): port,
user and charset from their config or P4 environment, and the ticket for that server and user
from their own tickets file, in the format the P4 API (here its fake) writes."""

from __future__ import annotations

from pathlib import Path

from devbox import config
from devbox.api import client_p4
from tests.fakes.p4fake import FakeP4, FakeServer

PORT = "fake.example.com:1666"


def _login(tickets: Path, user: str, port: str = PORT) -> str:
    """A real (fake) P4 login writing ``tickets`` as the P4 API does; the ticket it got."""
    server = FakeServer(port)
    server.add_user(user, "pw")
    p4 = FakeP4(server)
    p4.port, p4.user, p4.ticket_file = port, user, str(tickets)
    p4.connect()
    p4.run_login(password="pw")
    (ticket,) = [t for t, u in server.tickets.items() if u == user]
    return ticket


def _cfg(home: Path, **env: str) -> config.Config:
    return config.load(environ={"HOME": str(home), "USER": "dbxu9", **env}, files=())


def test_the_ticket_of_the_configured_server_and_user_is_sent(tmp_path: Path) -> None:
    tickets = tmp_path / ".p4tickets"
    bob = _login(tickets, "bob")
    alice = _login(tickets, "alice")
    _login(tickets, "alice", "other.example.com:1666")  # another server's: not this one
    assert len(tickets.read_text().splitlines()) == 3
    cfg = _cfg(tmp_path, DEVBOX_P4_PORT=PORT, DEVBOX_P4_USER="alice", DEVBOX_P4_CHARSET="utf8")
    got = client_p4.own_p4(cfg)
    assert got == {"port": PORT, "user": "alice", "charset": "utf8", "ticket": alice}
    assert client_p4.own_p4(_cfg(tmp_path, P4PORT=PORT, P4USER="bob")) == {
        "port": PORT,
        "user": "bob",
        "ticket": bob,
    }


def test_p4tickets_names_the_file_and_no_ticket_means_no_key(tmp_path: Path) -> None:
    elsewhere = tmp_path / "t" / "tickets.txt"
    ticket = _login(elsewhere, "dbxu9")
    cfg = _cfg(tmp_path, P4PORT=PORT, P4TICKETS=str(elsewhere))
    assert client_p4.own_p4(cfg) == {"port": PORT, "user": "dbxu9", "ticket": ticket}
    assert client_p4.own_p4(_cfg(tmp_path, P4PORT=PORT)) == {"port": PORT, "user": "dbxu9"}
    assert client_p4.own_p4(_cfg(tmp_path, P4PORT="nope:1", P4TICKETS=str(elsewhere))) == {
        "port": "nope:1",
        "user": "dbxu9",
    }


def test_find_ticket_reads_the_p4_format() -> None:
    text = "ssl:p4.example.com:1666=alice:AAAA\nx\np4:1=alice:BBBB\nssl:p4.example.com:1666=bob:C\n"
    assert client_p4.find_ticket(text, "ssl:p4.example.com:1666", "alice") == "AAAA"
    assert client_p4.find_ticket(text, "p4:1", "alice") == "BBBB"
    assert client_p4.find_ticket(text, "p4:1", "bob") is None
    assert client_p4.find_ticket("", "p4:1", "alice") is None


def test_root_on_its_own_service_sends_nothing(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, P4PORT=PORT, P4USER="alice")
    assert client_p4.for_request(cfg, local_root=True) is None
    assert client_p4.for_request(cfg, local_root=False) == {"port": PORT, "user": "alice"}
