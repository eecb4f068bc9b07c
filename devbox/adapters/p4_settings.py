"""Which Perforce server, user and workspace: :class:`P4Settings` from devbox's config (or
P4PORT/P4USER/P4CHARSET/P4TICKETS; P4CONFIG files are never read), and the one workspace name
per container, :func:`workspace_name`."""

from __future__ import annotations

import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from devbox.config import Config

_NAME_PART = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class P4Settings:
    port: str = ""
    user: str = ""
    charset: str = ""
    client_prefix: str = "devbox"
    options: str = "allwrite clobber nocompress unlocked nomodtime rmdir"
    ticket_file: str = ""  # empty: the P4 API's default ($P4TICKETS or ~/.p4tickets)

    @classmethod
    def from_config(cls, cfg: Config) -> P4Settings:
        env: Mapping[str, str] = cfg.environ
        return cls(
            port=cfg.text("p4.port") or env.get("P4PORT", ""),
            user=cfg.text("p4.user") or env.get("P4USER", ""),
            charset=cfg.text("p4.charset") or env.get("P4CHARSET", ""),
            client_prefix=cfg.text("p4.client_prefix"),
            options=cfg.text("p4.options"),
            ticket_file=env.get("P4TICKETS", ""),
        )


def workspace_name(prefix: str, container: str, host: str | None = None) -> str:
    """``<prefix>-<host>-<container>``: one Perforce client workspace per container."""
    short = (host or socket.gethostname()).split(".")[0]
    parts = [_NAME_PART.sub("-", p).strip("-") for p in (prefix, short, container)]
    return "-".join(p for p in parts if p)
