"""Pure planning for dev/os containers: labels, authorized keys, summary. No I/O here."""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devbox import __version__
from devbox.config import Config
from devbox.errors import UserError
from devbox.model import labels
from devbox.model.limits import Limits

if TYPE_CHECKING:
    pass


@dataclass(frozen=True)
class MakeOptions:
    name: str
    branch: str
    kind: str = "dev"  # dev | os | combo | clone
    image: str | None = None
    parent: str | None = None
    vlan: int | None = None
    opt_seed: str | None = None
    checkout: bool = True
    extra_labels: dict[str, str] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)  # flags (over a product map), over branch
    # the owner's public keys for the login user (sent by the client); None: the keys of the
    # HOME this process runs with (an in-process make by root)
    public_keys: tuple[str, ...] | None = None
    keep_running: bool = False  # --keep-running: idle stop never stops it (a label)


def parse_label_setting(text: str) -> dict[str, str]:
    """``"a=1,b=2"`` -> ``{"a": "1", "b": "2"}`` (the ``labels`` setting)."""
    out: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(
                f"setting 'labels': '{item}' is not key=value",
                hint="example: DEVBOX_LABELS=team=infra,owner=alice",
            )
        out[key.strip()] = value.strip()
    return out


def _process_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def created_by() -> str:
    return f"{_process_user()}@{socket.gethostname()}"


def container_labels(
    opts: MakeOptions,
    image: str,
    parent: str,
    mac: str,
    ifname: str,
    opt_dir: str,
    extra: dict[str, str],
    root: str = "",
) -> dict[str, str]:
    out = {
        labels.ROLE: "dockeruser",
        labels.KIND: opts.kind,
        labels.BRANCH: opts.branch,
        labels.IMAGE: image,
        labels.OPT_DIR: opt_dir,
        labels.USER: login_user(opts.kind),
        labels.ROOT: root,
        labels.CREATED_BY: created_by(),
        labels.OWNER: _process_user(),
        labels.OWNER_UID: str(os.getuid()),
        labels.DEVBOX_VERSION: __version__,
    }
    out.update(
        labels.net_labels(mode="dhcp", parent=parent, vlan=opts.vlan, mac=mac, ifname=ifname)
    )
    if opts.keep_running:
        out[labels.KEEP_RUNNING] = "true"
    out.update(extra)
    out.update(opts.extra_labels)
    return out


def authorized_keys(key_texts: list[str]) -> str:
    """One line per distinct public key, comments kept, blanks and comment lines dropped."""
    seen: set[str] = set()
    lines: list[str] = []
    for text in key_texts:
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split()
            if len(parts) < 2:
                continue
            ident = f"{parts[0]} {parts[1]}"
            if ident in seen:
                continue
            seen.add(ident)
            lines.append(line)
    return "\n".join(lines) + "\n"


def login_user(kind: str) -> str:
    """Dev images have a 'dev' user with sudo; a vanilla OS container is reached as root."""
    return "root" if kind == "os" else "dev"


def home_of(user: str) -> str:
    return "/root" if user == "root" else f"/home/{user}"


def passwd_ids(text: str, user: str) -> tuple[int, int] | None:
    """``user``'s uid and gid from an /etc/passwd text, when its entry is there, well formed
    and has the home :func:`home_of` names (anything else: None, and the caller asks the
    running container instead)."""
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) != 7 or fields[0] != user:
            continue
        uid, gid, home = fields[2], fields[3], fields[5]
        if not (uid.isdigit() and gid.isdigit()) or home.rstrip("/") != home_of(user):
            return None
        return int(uid), int(gid)
    return None


def ssh_argv(
    name: str,
    ip: str,
    user: str,
    known_hosts: str,
    proxy_command: str | None,
    identity: str | None = None,
    command: Sequence[str] = (),
) -> list[str]:
    """The system ssh command line that reaches ``name`` at ``ip``: the host keys devbox
    recorded (strict), ``identity`` only (devbox's key) or the user's own keys when None."""
    argv = ["ssh"]
    if identity is not None:
        argv += ["-i", identity, "-o", "IdentitiesOnly=yes"]
    argv += [
        "-o",
        f"UserKnownHostsFile={known_hosts}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        f"HostKeyAlias={name}",
    ]
    if proxy_command:
        argv += ["-o", f"ProxyCommand={proxy_command}"]
    argv += [f"{user}@{ip}"]
    return argv + (["--", *command] if command else [])


def ssh_command(name: str) -> str:
    return f"ssh {name}"


@dataclass
class MakeResult:
    name: str
    ip: str
    mac: str
    image: str
    ssh_command: str
    opt_dir: str
    log: str
    seconds: float
    durations: dict[str, float]
    warnings: list[str] = field(default_factory=list)
    revision: str | None = None
    # what a client needs for its own SSH config entry (written as the caller, by the caller)
    user: str = "dev"
    host_keys: list[str] = field(default_factory=list)  # "type base64" lines
    proxy_command: str | None = None
    identity_file: str = ""  # devbox's key (root's entry); a user's entry uses their keys
    known_hosts: str = ""  # devbox's known_hosts (root's entry)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MakeResult:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def same_root(label: str, root: Path) -> bool:
    if not label:
        return False
    return label == str(root) or os.path.realpath(label) == os.path.realpath(root)


def require_this_root(cfg: Config, name: str, lbls: Mapping[str, str]) -> None:
    """A devbox container whose ``devbox.root`` label names another root is that root's:
    UserError, nothing touched."""
    root = lbls.get(labels.ROOT, "")
    if not same_root(root, cfg.root):
        raise UserError(
            f"container {name} belongs to another devbox root ({root or 'none recorded'})",
            hint=(
                f"run devbox with --root {root}"
                if root
                else "it was not made by this devbox root; use docker to handle it"
            ),
        )
