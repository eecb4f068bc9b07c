"""The caller's own SSH files, written by the client as the caller (never by the root
service into a user's home): the ``~/.ssh/config.d/devbox`` entry of a container and the
host keys devbox recorded for it, in ``~/.ssh/known_hosts.d/devbox``."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devbox.adapters import ssh
from devbox.adapters.host import sshconfig
from devbox.adapters.host.process import replace_process, run_interactive

if TYPE_CHECKING:
    from devbox.model.hosts import HostEntry as Host

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


def on_link(ip: str) -> bool:
    """Whether one of this machine's interfaces is on ``ip``'s subnet (one route lookup)."""
    import ipaddress

    from devbox.adapters.net import netlink
    from devbox.errors import DevboxError

    try:
        ipaddress.IPv4Address(ip)
        found = netlink.route_link(ip)
    except (ValueError, DevboxError):
        return False
    return found is not None and found[1]


HOST_KEY_TYPES = frozenset(
    {
        "ssh-ed25519",
        "ssh-rsa",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
    }
)
_USER = re.compile(r"[a-z_][a-z0-9_-]{0,31}")


def checked(facts: dict[str, Any]) -> dict[str, Any]:
    """What a service sent for a container's SSH entry, refused unless every field is what
    it claims to be: these land in the caller's ~/.ssh (a name with a newline would add ssh
    directives; a host key for ``*`` would vouch for every host), and another host's service
    is not to be trusted with that."""
    import base64
    import binascii
    import ipaddress

    from devbox.errors import OperationFailed, UserError
    from devbox.model.naming import validate_name

    def bad(what: str) -> OperationFailed:
        return OperationFailed(f"the devbox service sent an unusable {what} for an SSH entry")

    if not isinstance(facts, dict):
        raise bad("answer")
    name = facts.get("name")
    if not isinstance(name, str):
        raise bad("name")
    try:
        validate_name(name)
    except UserError:
        raise bad(f"name {name!r}") from None
    ip = facts.get("ip") or ""
    if not isinstance(ip, str) or (ip and not _is_ip(ip, ipaddress)):
        raise bad(f"address {ip!r}")
    user = facts.get("user") or "dev"
    if not isinstance(user, str) or not _USER.fullmatch(user):
        raise bad(f"user {user!r}")
    keys = facts.get("host_keys") or []
    if not isinstance(keys, list):
        raise bad("host key list")
    clean = []
    for key in keys:
        parts = key.split() if isinstance(key, str) else []
        if len(parts) not in (2, 3) or parts[0] not in HOST_KEY_TYPES:
            raise bad(f"host key {str(key)[:40]!r}")
        try:
            base64.b64decode(parts[1], validate=True)
        except (binascii.Error, ValueError):
            raise bad("host key (not base64)") from None
        clean.append(f"{parts[0]} {parts[1]}")  # type and key only: no comment travels on
    return {**facts, "host_keys": clean}


def _is_ip(text: str, ipaddress: Any) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def record(facts: dict[str, Any], as_root: bool, via: Host | None = None) -> Path:
    """Write the entry for a container from what the service said (name, ip, user,
    host_keys, proxy_command; root's entry uses devbox's key and known_hosts). ``via``: the
    container lives on that other host (``--host``): the caller's own keys, and through
    that host (``ProxyJump`` to its alias entry) when :meth:`Host.needs_jump` says so; that
    host's ProxyCommand is never used here (it names a program and root of that host)."""
    facts = checked(facts)
    if via is not None:
        return _record_remote(facts, via)
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


def _record_remote(facts: dict[str, Any], via: Host) -> Path:
    from devbox.model.hosts import AUTO

    name, ip = str(facts["name"]), str(facts.get("ip") or "")
    known = user_known_hosts()
    known.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    ssh.record_host_keys(known, [n for n in (name, ip) if n], list(facts.get("host_keys") or []))
    keys = tuple(sshconfig.private_keys(home()))
    jump = via.needs_jump(on_link(ip) if via.jump == AUTO else False)
    entry = sshconfig.HostEntry(
        name,
        ip,
        str(facts.get("user") or "dev"),
        None,
        known,
        proxy_jump=via.jump_alias if jump else None,
        own_keys=keys,
    )
    if not jump:
        return sshconfig.write_entry(home(), entry)
    host = sshconfig.HostEntry(  # the host itself: the host keys --host checks, too
        via.jump_alias,
        via.address,
        via.user,
        None,
        home() / ".ssh" / "known_hosts",  # the file --host checks that host's key in
        port=via.port,
        own_keys=keys,
    )
    return sshconfig.write_entry(home(), entry, host)
