"""devbox's known_hosts: entries replaced and forgotten per name, readable by paramiko."""

from __future__ import annotations

from pathlib import Path

import paramiko
import pytest

from devbox.adapters import ssh


def _key(comment: str) -> str:
    _private, public = ssh.generate_host_key(comment)
    return public


def test_record_replace_and_forget(tmp_path: Path) -> None:
    kh = tmp_path / "ssh" / "known_hosts"
    other = _key("other")
    kh.parent.mkdir()
    kh.write_text(f"# kept comment\nother,alice {other.split()[0]} {other.split()[1]}\n")
    first, second = _key("alice"), _key("alice")
    ssh.record_host_keys(kh, ["alice", "10.0.0.5"], [first])
    hk = paramiko.HostKeys(str(kh))
    assert hk.lookup("alice")["ssh-ed25519"].get_base64() == first.split()[1]
    assert hk.lookup("10.0.0.5")["ssh-ed25519"].get_base64() == first.split()[1]
    assert hk.lookup("other")["ssh-ed25519"].get_base64() == other.split()[1]
    assert "# kept comment" in kh.read_text()
    assert (kh.stat().st_mode & 0o777) == 0o600

    ssh.record_host_keys(kh, ["alice", "10.0.0.5"], [second])  # a remade container
    hk = paramiko.HostKeys(str(kh))
    assert hk.lookup("alice")["ssh-ed25519"].get_base64() == second.split()[1]
    assert kh.read_text().count("alice ") == 1

    ssh.forget_host(kh, ["alice", "10.0.0.5"])
    hk = paramiko.HostKeys(str(kh))
    assert hk.lookup("alice") is None and hk.lookup("10.0.0.5") is None
    assert hk.lookup("other") is not None


def test_broken_key_line_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        ssh.record_host_keys(tmp_path / "kh", ["x"], ["ssh-ed25519 not*base64"])
