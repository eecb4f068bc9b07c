"""The caller's SSH entry of a container on another host (devbox.api.client_ssh.record with
``via``): through that host when its ``jump`` says so, never with that host's ProxyCommand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devbox.api import client_ssh
from devbox.model import hosts

FACTS = {
    "name": "box",
    "ip": "10.0.0.9",
    "user": "dev",
    "host_keys": [
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
    ],
    "proxy_command": "devbox --root /there common net connect box %p; touch /tmp/pwned",
}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".ssh").mkdir(mode=0o700)
    (tmp_path / ".ssh" / "id_ed25519").write_text("k")
    (tmp_path / ".ssh" / "id_ed25519.pub").write_text("ssh-ed25519 AAAA me\n")
    return tmp_path


def test_through_the_host_with_jump_true(home: Path) -> None:
    via = hosts.entry("h2", "root@10.0.0.2", port=2222, jump=True)
    text = client_ssh.record(dict(FACTS), as_root=False, via=via).read_text()
    box = text.split("# <<< devbox box")[0]
    assert "    ProxyJump devbox-host-h2\n" in box and "ProxyCommand" not in text
    assert f"IdentityFile {home / '.ssh' / 'id_ed25519'}" in box
    assert f"UserKnownHostsFile {home / '.ssh' / 'known_hosts.d' / 'devbox'}" in box
    jump = text.split("# >>> devbox devbox-host-h2")[1]
    assert "HostName 10.0.0.2\n    User root\n    Port 2222\n" in jump
    assert f"UserKnownHostsFile {home / '.ssh' / 'known_hosts'}\n" in jump
    known = (home / ".ssh" / "known_hosts.d" / "devbox").read_text()
    assert "box" in known and "10.0.0.9" in known


def test_direct_with_jump_false_and_never_the_hosts_proxy_command(home: Path) -> None:
    via = hosts.entry("h2", "root@10.0.0.2", jump=False)
    text = client_ssh.record(dict(FACTS), as_root=False, via=via).read_text()
    assert "ProxyJump" not in text and "ProxyCommand" not in text and "pwned" not in text
    assert "devbox-host-h2" not in text


GOOD_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOa7"


@pytest.mark.parametrize(
    "bad",
    [
        {"name": "x\nHost *\n    ProxyCommand sh -c id"},
        {"name": "*"},
        {"name": "box", "ip": "10.0.0.5\n    ProxyCommand id"},
        {"name": "box", "ip": "not-an-ip"},
        {"name": "box", "user": "dev\n    ProxyCommand id"},
        {"name": "box", "host_keys": ["* ssh-ed25519 AAAA"]},
        {"name": "box", "host_keys": ["ssh-ed25519 AAAA\n* ssh-rsa AAAA"]},
        {"name": "box", "host_keys": ["x-evil AAAA"]},
        {"name": "box", "host_keys": ["ssh-ed25519 not*base64"]},
        {"name": "box", "host_keys": "ssh-ed25519 AAAA"},
    ],
)
def test_facts_that_would_write_ssh_directives_are_refused(bad: dict[str, Any]) -> None:
    from devbox.errors import OperationFailed

    with pytest.raises(OperationFailed, match="unusable"):
        client_ssh.checked({"ip": "10.0.0.5", "user": "dev", **bad})


def test_plain_facts_pass_with_their_keys_bare() -> None:
    facts = {"name": "box", "ip": "10.0.0.5", "user": "dev", "host_keys": [GOOD_KEY + " root@x"]}
    assert client_ssh.checked(facts) == {**facts, "host_keys": [GOOD_KEY]}


@pytest.mark.parametrize("facts", [None, "dbx1", ["dbx1"], 3])
def test_facts_that_are_not_a_mapping_are_refused(facts: Any) -> None:
    """A clone's facts come straight from a (perhaps other) host's reply: anything but an
    object is an unusable answer, not a crash after the clones are made."""
    from devbox.errors import OperationFailed

    with pytest.raises(OperationFailed, match="unusable answer"):
        client_ssh.checked(facts)
