"""The SSH config entries devbox writes: upsert/replace/remove, the Include line first and once."""

from __future__ import annotations

from pathlib import Path

import pytest

from devbox.adapters.host import sshconfig


def _entry(name: str, ip: str) -> sshconfig.HostEntry:
    return sshconfig.HostEntry(name, ip, "dev", Path("/k/id"), Path("/k/known_hosts"))


def test_ssh_config_upsert_replace_remove() -> None:
    text = "Host other\n    User x\n"
    text = sshconfig.upsert(text, _entry("alice", "10.0.0.5"))
    text = sshconfig.upsert(text, _entry("bob", "10.0.0.6"))
    text = sshconfig.upsert(text, _entry("alice", "10.0.0.7"))
    assert text.count("Host alice") == 1 and "10.0.0.7" in text and "10.0.0.5" not in text
    assert "Host other" in text and "Host bob" in text
    text = sshconfig.remove(text, "alice")
    assert "alice" not in text and "Host bob" in text


def test_ssh_include_goes_first_once(tmp_path: Path) -> None:
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "config").write_text("Host *\n    ServerAliveInterval 30\n")
    sshconfig.write_entry(tmp_path, _entry("alice", "10.0.0.5"))
    sshconfig.write_entry(tmp_path, _entry("bob", "10.0.0.6"))
    main = (tmp_path / ".ssh" / "config").read_text()
    assert main.startswith(sshconfig.INCLUDE_LINE + "\n")
    assert main.count(sshconfig.INCLUDE_LINE) == 1
    sshconfig.remove_entry(tmp_path, "alice")
    devbox_file = (tmp_path / ".ssh" / "config.d" / "devbox").read_text()
    assert "alice" not in devbox_file and "Host bob" in devbox_file


def test_an_entry_through_its_host_names_the_jump_and_the_callers_keys(tmp_path: Path) -> None:
    ssh_dir = tmp_path / ".ssh"
    ssh_dir.mkdir()
    (ssh_dir / "id_ed25519").write_text("k")
    (ssh_dir / "id_ed25519.pub").write_text("ssh-ed25519 AAAA a\n")
    (ssh_dir / "id_rsa.pub").write_text("ssh-rsa AAAA lonely pub\n")  # no private key: left out
    keys = tuple(sshconfig.private_keys(tmp_path))
    assert keys == (ssh_dir / "id_ed25519",)
    ctr = sshconfig.HostEntry(
        "box", "10.0.0.9", "dev", None, Path("/k/kh"), proxy_jump="devbox-host-h2", own_keys=keys
    )
    host = sshconfig.HostEntry(
        "devbox-host-h2", "10.0.0.2", "root", None, ssh_dir / "known_hosts", port=2222
    )
    written = sshconfig.write_entry(tmp_path, ctr, host)
    text = written.read_text()
    assert written == sshconfig.entries_path(tmp_path)
    assert "Host box\n    HostName 10.0.0.9\n" in text and "    ProxyJump devbox-host-h2\n" in text
    assert f"    IdentityFile {ssh_dir / 'id_ed25519'}\n" in text and "IdentitiesOnly" not in text
    assert "Host devbox-host-h2\n    HostName 10.0.0.2\n    User root\n    Port 2222\n" in text
    assert "ProxyCommand" not in text and "Port 22\n" not in text.split("Host devbox-host")[0]
    # a ProxyCommand (this machine's netns relay) wins over a jump: never both
    both = sshconfig.HostEntry("b", "1.2.3.4", "dev", None, Path("/k"), "relay %p", "h")
    assert "ProxyCommand relay %p" in both.render() and "ProxyJump" not in both.render()


@pytest.mark.parametrize("field", ["name", "address", "user", "proxy_jump"])
def test_an_entry_never_renders_a_space_or_newline_in_a_value(field: str) -> None:
    from pathlib import Path

    values = {"name": "box", "address": "10.0.0.5", "user": "dev", "proxy_jump": "h2"}
    values[field] = values[field] + "\n    ProxyCommand id"
    entry = sshconfig.HostEntry(
        values["name"],
        values["address"],
        values["user"],
        None,
        Path("/k"),
        proxy_jump=values["proxy_jump"],
    )
    with pytest.raises(ValueError):
        entry.render()
