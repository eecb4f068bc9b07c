"""The SSH config entries devbox writes: upsert/replace/remove, the Include line first and once."""

from __future__ import annotations

from pathlib import Path

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
