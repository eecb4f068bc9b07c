"""The caller's own SSH files, written by the client as the caller (never by the root
service into a user's home): the ``~/.ssh/config.d/devbox`` entry of a container and the
host keys devbox recorded for it, in ``~/.ssh/known_hosts.d/devbox``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from devbox.adapters.host import sshconfig
from devbox.adapters.host.process import replace_process, run_interactive

__all__ = ["forget", "record", "replace_process", "run_interactive", "user_known_hosts"]


def home() -> Path:
    return Path(os.environ.get("HOME") or Path.home())


def user_known_hosts() -> Path:
    return home() / ".ssh" / "known_hosts.d" / "devbox"


def record(facts: dict[str, Any], as_root: bool) -> Path:
    """Write the entry for a container from what the service said (name, ip, user,
    host_keys, proxy_command; root's entry uses devbox's key and known_hosts)."""
    name, ip = str(facts["name"]), str(facts.get("ip") or "")
    if as_root and facts.get("identity_file"):
        identity: Path | None = Path(str(facts["identity_file"]))
        known = Path(str(facts["known_hosts"]))
    else:
        identity = None  # the caller's own keys, as their ssh picks them
        known = user_known_hosts()
        _write_host_keys(known, [name, ip], list(facts.get("host_keys") or []))
    entry = sshconfig.HostEntry(
        name,
        ip,
        str(facts.get("user") or "dev"),
        identity,
        known,
        proxy_command=facts.get("proxy_command"),
    )
    return sshconfig.write_entry(home(), entry)


def forget(name: str) -> None:
    sshconfig.remove_entry(home(), name)
    known = user_known_hosts()
    if known.exists():
        kept = [ln for ln in known.read_text().splitlines() if ln.split(" ", 1)[0] != name]
        _write(known, kept)


def _write_host_keys(known: Path, names: list[str], keys: list[str]) -> None:
    old = known.read_text().splitlines() if known.exists() else []
    drop = {n for n in names if n}
    lines = [ln for ln in old if ln.split(" ", 1)[0] not in drop]
    for key in keys:
        parts = key.split()
        if len(parts) >= 2:
            lines += [f"{n} {parts[0]} {parts[1]}" for n in names if n]
    _write(known, lines)


def _write(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temp = path.with_name(f".{path.name}.{os.getpid()}")
    temp.write_text("".join(f"{ln}\n" for ln in lines))
    temp.chmod(0o600)
    temp.replace(path)
