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


def test_host_keys_read_once_as_paramiko_reads_them(tmp_path: Path) -> None:
    """run-on's one read of known_hosts: the same keys per name as paramiko's own loader
    (comments, markers and hashed names skipped), ``[host]:port`` for another port."""
    kh = tmp_path / "known_hosts"
    first, second, third = _key("a"), _key("b"), _key("c")
    kh.write_text(
        "# a comment\n"
        f"@revoked 10.0.0.9 {third}\n"
        f"{paramiko.HostKeys.hash_host('10.0.0.9')} {third}\n"
        "short line\n"
    )
    ssh.record_host_keys(kh, ["alice", "10.0.0.5"], [first, second])
    ssh.record_host_keys(kh, ["[10.0.0.6]:2222"], [third])
    keys = ssh.read_host_keys(kh)
    assert keys.path == kh
    both = {" ".join(first.split()[:2]), " ".join(second.split()[:2])}
    assert keys.of("alice") == keys.of("10.0.0.5") == both
    assert keys.of("10.0.0.6", 2222) == {" ".join(third.split()[:2])}
    assert keys.of("10.0.0.6") == frozenset() and keys.of("10.0.0.9") == frozenset()
    plain = tmp_path / "plain"  # what devbox writes: paramiko reads it alike
    ssh.record_host_keys(plain, ["alice", "10.0.0.5"], [first])
    lookup = paramiko.HostKeys(str(plain)).lookup("10.0.0.5")
    assert {f"{t} {k.get_base64()}" for t, k in lookup.items()} == ssh.read_host_keys(plain).of(
        "10.0.0.5"
    )
    assert ssh.read_host_keys(tmp_path / "none").by_host == {}


def test_key_loaded_once_is_devbox_key(tmp_path: Path) -> None:
    public = ssh.ensure_keypair(tmp_path / "id_ed25519")
    key = ssh.load_key(tmp_path / "id_ed25519")
    assert f"{key.get_name()} {key.get_base64()}" == " ".join(public.split()[:2])
    (tmp_path / "broken").write_text("not a key\n")
    with pytest.raises(ssh.OperationFailed, match="cannot read devbox's SSH key"):
        ssh.load_key(tmp_path / "broken")
