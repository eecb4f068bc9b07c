"""Registry planning, pure: htpasswd entries, the config template's values, where files go
inside the container, and the docker SDK parameters of the registry container."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devbox.errors import UserError

CONTAINER_CONFIG = "/etc/docker/registry/config.yml"
CONTAINER_AUTH_DIR = "/etc/docker/registry/auth"
CONTAINER_HTPASSWD = f"{CONTAINER_AUTH_DIR}/htpasswd"
CONTAINER_TLS_DIR = "/etc/docker/registry/tls"
CONTAINER_STORAGE = "/var/lib/docker-registry"
CONTAINER_PORT = 5000
DEBIAN_BINARY = "/usr/bin/docker-registry"
ADMIN_USER = "devbox-admin"  # devbox's own account, for status and checks
ROLE_LABEL = "devbox.role"
ROLE = "registryserver"
BCRYPT_COST = 10

_USER_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def validate_user(user: str) -> str:
    if not _USER_RE.fullmatch(user):
        raise UserError(
            f"invalid registry user name {user!r}",
            hint="use lowercase letters, digits, '.', '_' and '-' (at most 64)",
        )
    return user


def validate_password(password: str) -> str:
    if len(password) < 8:
        raise UserError("password too short (at least 8 characters)")
    if "\n" in password or "\r" in password:
        raise UserError("password must be one line")
    if len(password.encode()) > 72:
        raise UserError("password too long for bcrypt (at most 72 bytes)")
    return password


def hash_password(password: str, cost: int = BCRYPT_COST, salt: bytes | None = None) -> str:
    """bcrypt hash in the ``$2y$`` form Apache's ``htpasswd -B`` writes."""
    import bcrypt

    hashed = bcrypt.hashpw(password.encode(), salt or bcrypt.gensalt(rounds=cost)).decode()
    return "$2y$" + hashed[4:] if hashed.startswith("$2b$") else hashed


def check_password(password: str, hashed: str) -> bool:
    import bcrypt

    candidate = "$2b$" + hashed[4:] if hashed.startswith("$2y$") else hashed
    return bool(bcrypt.checkpw(password.encode(), candidate.encode()))


def parse_htpasswd(text: str) -> dict[str, str]:
    users: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, hashed = line.partition(":")
        if sep:
            users[user] = hashed
    return users


def format_htpasswd(users: Mapping[str, str]) -> str:
    return "".join(f"{u}:{h}\n" for u, h in sorted(users.items()))


def with_user(text: str, user: str, hashed: str) -> str:
    users = parse_htpasswd(text)
    users[validate_user(user)] = hashed
    return format_htpasswd(users)


def without_user(text: str, user: str) -> str:
    users = parse_htpasswd(text)
    if user not in users:
        raise UserError(
            f"registry user {user!r} does not exist",
            hint="list users with 'devbox registryserver status'",
        )
    del users[user]
    return format_htpasswd(users)


@dataclass(frozen=True)
class Address:
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_address(text: str) -> Address:
    m = re.fullmatch(r"\[?([A-Za-z0-9.:-]+?)\]?:(\d{1,5})", text.strip())
    if not m or not 0 < int(m.group(2)) < 65536:
        raise UserError(f"invalid registry address {text!r}", hint="use HOST:PORT")
    return Address(m.group(1), int(m.group(2)))


def config_context(
    *, tls: bool, readonly: bool = False, realm: str = "devbox-registry", log_level: str = "info"
) -> dict[str, Any]:
    """Values for ``templates/registry-config.yml.j2`` (container-side paths)."""
    return {
        "port": CONTAINER_PORT,
        "storage": CONTAINER_STORAGE,
        "htpasswd": CONTAINER_HTPASSWD,
        "realm": realm,
        "tls": tls,
        "tls_cert": f"{CONTAINER_TLS_DIR}/server.crt",
        "tls_key": f"{CONTAINER_TLS_DIR}/server.key",
        "readonly": readonly,
        "log_level": log_level,
    }


def registry_command(binary: str, action: str = "serve") -> list[str]:
    """The registry binary's argv: Debian's ``docker-registry`` or registry:2's ``registry``."""
    if action == "gc":
        return [binary, "garbage-collect", "--delete-untagged", CONTAINER_CONFIG]
    return [binary, "serve", CONTAINER_CONFIG]


def volumes(
    config_file: Path, auth_dir: Path, tls_dir: Path | None, storage: Path
) -> dict[str, dict[str, str]]:
    vols = {
        str(config_file): {"bind": CONTAINER_CONFIG, "mode": "ro"},
        str(auth_dir): {"bind": CONTAINER_AUTH_DIR, "mode": "ro"},
        str(storage): {"bind": CONTAINER_STORAGE, "mode": "rw"},
    }
    if tls_dir is not None:
        vols[str(tls_dir)] = {"bind": CONTAINER_TLS_DIR, "mode": "ro"}
    return vols


def run_kwargs(
    *,
    name: str,
    image: str,
    binary: str,
    port: int,
    vols: Mapping[str, Mapping[str, str]],
    labels: Mapping[str, str],
    network: str = "",
    restart: str = "unless-stopped",
) -> dict[str, Any]:
    """docker SDK ``containers.run`` kwargs of the registry server."""
    extra: dict[str, Any] = {"network": network} if network else {}
    return {
        **extra,
        "name": name,
        "image": image,
        "command": registry_command(binary),
        "entrypoint": [],
        "detach": True,
        "ports": {f"{CONTAINER_PORT}/tcp": port},
        "volumes": {k: dict(v) for k, v in vols.items()},
        "labels": {ROLE_LABEL: ROLE, **dict(labels)},
        "restart_policy": {"Name": restart},
        "environment": {"OTEL_TRACES_EXPORTER": "none"},
    }


def gc_kwargs(
    *,
    name: str,
    image: str,
    binary: str,
    vols: Mapping[str, Mapping[str, str]],
    labels: Mapping[str, str],
) -> dict[str, Any]:
    """One-shot container running garbage-collect on the (stopped) registry's storage."""
    return {
        "name": name,
        "image": image,
        "command": registry_command(binary, "gc"),
        "entrypoint": [],
        "detach": True,
        "volumes": {k: dict(v) for k, v in vols.items()},
        "labels": {ROLE_LABEL: f"{ROLE}-gc", **dict(labels)},
        "network_mode": "none",
    }


_GC_RE = re.compile(r"(\d+) blobs marked, (\d+) blobs and (\d+) manifests eligible for deletion")


def parse_gc_output(text: str) -> tuple[int, int, int]:
    """(blobs marked, blobs deleted, manifests deleted) from garbage-collect's summary line."""
    m = _GC_RE.search(text)
    if not m:
        return (0, 0, 0)
    return int(m.group(1)), int(m.group(2)), int(m.group(3))
