"""The caller's own SSH files, written by the client as the caller (never by the root
service into a user's home): the ``~/.ssh/config.d/devbox`` entry of a container and the
host keys devbox recorded for it, in ``~/.ssh/known_hosts.d/devbox``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from devbox.adapters import ssh
from devbox.adapters.host import sshconfig
from devbox.adapters.host.process import replace_process, run_interactive

__all__ = ["forget", "record", "replace_process", "run_interactive", "user_known_hosts"]


def home() -> Path:
    return Path(os.environ.get("HOME") or Path.home())


def own_public_keys() -> list[str]:
    """The caller's public keys, for the dev account of the containers they make: their
    ``~/.ssh/id_*.pub`` and the keys their SSH agent holds (each key once)."""
    from devbox.adapters.host import ssh_agent

    keys = sshconfig.public_keys(home())
    agent = os.environ.get("SSH_AUTH_SOCK")
    if agent:
        keys += ssh_agent.public_keys(agent)
    seen: set[tuple[str, ...]] = set()
    out = []
    for key in keys:
        ident = tuple(key.split()[:2])
        if ident and ident not in seen:
            seen.add(ident)
            out.append(key)
    return out


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
        known.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        ssh.record_host_keys(
            known, [n for n in (name, ip) if n], list(facts.get("host_keys") or [])
        )
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
        ssh.forget_host(known, [name])
