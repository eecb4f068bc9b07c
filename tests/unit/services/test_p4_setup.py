"""``devbox dockeruser p4 setup`` against the P4 fake (P4Python's API shape, selected by the
p4.factory setting): the config file gets p4.port/p4.user with its other keys kept, the
ticket lands in the user's ~/.p4tickets, and the password is in no file and in no process's
argv or environment (the fake scans every process at the login)."""

from __future__ import annotations

import json
import os
import subprocess
import tomllib
from pathlib import Path

import pytest

from devbox.errors import UserError
from devbox.services import p4_setup
from tests.cli import run_devbox
from tests.fixtures.readme import P4Fake, p4_fake

PORT = "fake.example.com:1666"
PASSWORD = "pw-" + "Zq8vL2nT"  # the fake server's test password


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def fake(tmp_path: Path) -> P4Fake:
    # the server's state (it holds the password, as a server does) lives outside HOME
    return p4_fake(
        tmp_path / "p4state.json",
        {"port": PORT, "users": {"alice": PASSWORD}, "scan_processes": True},
    )


def cli(
    home: Path, fake: P4Fake, *args: str, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    keep = ("PATH", "LANG", "LC_ALL", "TMPDIR")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(HOME=str(home), NO_COLOR="1", **fake.env())
    return run_devbox(["dockeruser", "p4", "setup", *args], env, timeout=120, input=input)


def files_holding(top: Path, secret: str) -> list[str]:
    return [str(p) for p in top.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


def test_setup_writes_the_config_and_a_ticket_never_the_password(home: Path, fake: P4Fake) -> None:
    config = home / ".config" / "devbox" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(
        '[lab]\nsubnet = "10.214.9.0/24"\n\n[hosts.big]\nssh = "root@big"\n'
        '\n[p4]\ncharset = "utf8"\n'
    )
    done = cli(
        home, fake, "--port", PORT, "--user", "alice", "--password-stdin", "--json",
        input=PASSWORD + "\n",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["login"] == "new ticket" and out["config"] == str(config)
    doc = tomllib.loads(config.read_text())
    assert doc["p4"] == {"port": PORT, "user": "alice", "charset": "utf8"}
    assert doc["lab"] == {"subnet": "10.214.9.0/24"} and doc["hosts"]["big"]["ssh"] == "root@big"
    tickets = home / ".p4tickets"
    assert out["ticket_file"] == str(tickets)
    assert tickets.read_text().startswith(f"{PORT}=alice:")
    server = fake.server()
    assert server.logins == ["alice"] and set(server.tickets.values()) == {"alice"}
    # the ticket in the file is the one the server handed out
    assert tickets.read_text().strip().rpartition(":")[2] in server.tickets
    assert files_holding(home, PASSWORD) == []
    assert server.login_scans == 1 and server.secret_sightings == []

    # again: the ticket is valid, no password is asked for (stdin is not read)
    again = cli(home, fake, "--port", PORT, "--user", "alice", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["login"] == "already"
    assert fake.server().logins == ["alice"]


def test_a_wrong_password_leaves_the_config_alone(home: Path, fake: P4Fake) -> None:
    done = cli(home, fake, "--port", PORT, "--user", "alice", "--password-stdin", input="nope\n")
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: ") and "Traceback" not in done.stderr
    assert not (home / ".config").exists() and not (home / ".p4tickets").exists()


def test_no_terminal_and_no_password_stdin_is_refused(home: Path, fake: P4Fake) -> None:
    done = cli(home, fake, "--port", PORT, "--user", "alice", input="")
    assert done.returncode == 2 and "--password-stdin" in done.stderr
    assert not (home / ".config").exists()


@pytest.mark.parametrize(
    "port", ["rsh:/bin/sh -c id", "host", "host:1666\n", "-p:1", "ssl:host:1666 x", ""]
)
def test_bad_ports_are_refused(port: str) -> None:
    with pytest.raises(UserError):
        p4_setup.check_port(port)


@pytest.mark.parametrize(
    "port", ["perforce:1666", "ssl:p4.example.com:1666", "1666", "tcp6:[::1]:1666"]
)
def test_good_ports_pass(port: str) -> None:
    assert p4_setup.check_port(port) == port


@pytest.mark.parametrize("user", ["", "-x", "a b", "al@ice", "alice\n", "a#1"])
def test_bad_users_are_refused(user: str) -> None:
    with pytest.raises(UserError):
        p4_setup.check_user(user)


def test_a_bad_port_writes_nothing(home: Path, fake: P4Fake) -> None:
    done = cli(home, fake, "--port", "rsh:/bin/true", "--user", "alice")
    assert done.returncode == 2 and done.stderr.count("\n") <= 2, done.stderr
    assert not (home / ".config").exists()
    assert fake.server().calls == []
