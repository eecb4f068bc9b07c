"""The SSH config entries devbox writes so ``ssh NAME`` and IDEs connect without extra flags.

Entries live in ``~/.ssh/config.d/devbox`` (one ``Host`` block per container, between markers),
included from the top of ``~/.ssh/config``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

INCLUDE_LINE = "Include config.d/devbox"


@dataclass(frozen=True)
class HostEntry:
    name: str
    address: str
    user: str
    identity_file: Path | None  # None: the user's own keys, as their ssh picks them
    known_hosts: Path
    proxy_command: str | None = None
    proxy_jump: str | None = None  # a Host alias (or USER@ADDR[:PORT]) to go through
    port: int = 22
    own_keys: tuple[Path, ...] = ()  # the caller's keys, named (their ssh may not look there)

    def render(self) -> str:
        for field in (self.name, self.address, self.user, self.proxy_jump or ""):
            if any(ch.isspace() or not ch.isprintable() for ch in field):
                raise ValueError(
                    f"an SSH config value with a space or control character: {field!r}"
                )
        for text in (
            self.proxy_command or "",
            str(self.identity_file or ""),
            str(self.known_hosts),
        ):
            if any(not ch.isprintable() for ch in text):
                raise ValueError(f"an SSH config value with a control character: {text!r}")
        lines = [
            f"# >>> devbox {self.name}",
            f"Host {self.name}",
            f"    HostName {self.address}",
            f"    User {self.user}",
            *([f"    Port {self.port}"] if self.port != 22 else []),
            *(f"    IdentityFile {key}" for key in self.own_keys),
            *(
                [f"    IdentityFile {self.identity_file}", "    IdentitiesOnly yes"]
                if self.identity_file is not None
                else []
            ),
            f"    UserKnownHostsFile {self.known_hosts}",
            "    StrictHostKeyChecking yes",
        ]
        if self.proxy_command:
            lines.append(f"    ProxyCommand {self.proxy_command}")
        elif self.proxy_jump:
            lines.append(f"    ProxyJump {self.proxy_jump}")
        lines.append(f"# <<< devbox {self.name}")
        return "\n".join(lines) + "\n"


def _block_re(name: str) -> re.Pattern[str]:
    return re.compile(
        rf"# >>> devbox {re.escape(name)}\n.*?# <<< devbox {re.escape(name)}\n", re.DOTALL
    )


def upsert(text: str, entry: HostEntry) -> str:
    """Return ``text`` with the entry for ``entry.name`` replaced or appended."""
    pattern = _block_re(entry.name)
    if pattern.search(text):
        return pattern.sub(lambda _m: entry.render(), text)
    if text and not text.endswith("\n"):
        text += "\n"
    return text + entry.render()


def remove(text: str, name: str) -> str:
    return _block_re(name).sub("", text)


def ensure_include(text: str) -> str:
    """``Include`` must come before any Host block to apply to every host."""
    if any(line.strip() == INCLUDE_LINE for line in text.splitlines()):
        return text
    return f"{INCLUDE_LINE}\n" + text


def entries_path(home: Path) -> Path:
    return home / ".ssh" / "config.d" / "devbox"


def write_entry(home: Path, entry: HostEntry, *more: HostEntry) -> Path:
    ssh_dir = home / ".ssh"
    (ssh_dir / "config.d").mkdir(parents=True, exist_ok=True, mode=0o700)
    ssh_dir.chmod(0o700)
    devbox_file = ssh_dir / "config.d" / "devbox"
    old = devbox_file.read_text() if devbox_file.exists() else ""
    text = upsert(old, entry)
    for other in more:
        text = upsert(text, other)
    devbox_file.write_text(text)
    main = ssh_dir / "config"
    current = main.read_text() if main.exists() else ""
    updated = ensure_include(current)
    if updated != current:
        main.write_text(updated)
        main.chmod(0o600)
    return devbox_file


def remove_entry(home: Path, name: str) -> None:
    devbox_file = home / ".ssh" / "config.d" / "devbox"
    if devbox_file.exists():
        devbox_file.write_text(remove(devbox_file.read_text(), name))


def private_keys(home: Path) -> list[Path]:
    """``home``'s ``~/.ssh/id_*`` private keys that have a ``.pub`` (the ones sent along)."""
    return [
        p.with_suffix("")
        for p in sorted((home / ".ssh").glob("id_*.pub"))
        if p.with_suffix("").is_file()
    ]


def public_keys(home: Path) -> list[str]:
    """The texts of ``home``'s ``~/.ssh/id_*.pub`` (unreadable ones left out)."""
    out = []
    for path in sorted((home / ".ssh").glob("id_*.pub")):
        try:
            out.append(path.read_text())
        except OSError:
            continue
    return out
