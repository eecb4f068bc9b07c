"""``devbox dockeruser p4 setup``: a person's Perforce server and user in their own devbox
config, and a login ticket in their own P4 tickets file. Runs as that person, locally (it
writes their own files): the password goes to the server through the P4 API's login input
only; what is stored is the ticket the server hands back (``~/.p4tickets``, or $P4TICKETS).

The config is written after the login succeeded: a wrong password or an unreachable server
leaves the file as it was.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from devbox.adapters.p4 import P4Session, P4Settings, PasswordProvider
from devbox.config import Config
from devbox.errors import UserError
from devbox.state import user_config

# [ssl|tcp[4|6|46|64]:]host:port, or a bare port: never rsh: (P4PORT=rsh:CMD runs CMD)
_PORT = re.compile(
    r"(?:(?:ssl|tcp)(?:4|6|46|64)?:)?(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})|\[[0-9A-Fa-f:.]+\])"
    r":[0-9]{1,5}|[0-9]{1,5}",
    re.ASCII,
)
# Perforce user names: no spaces, no revision characters (@ # % *), not starting with '-'
_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,127}", re.ASCII)


def check_port(port: str) -> str:
    """A Perforce server address; never ``rsh:`` (P4PORT=rsh:CMD runs CMD: the regex would
    read ``rsh:1666`` as host rsh, port 1666)."""
    if port.lower().startswith("rsh:") or not _PORT.fullmatch(port):
        raise UserError(
            f"not a Perforce server address: {port!r}",
            hint="give --port HOST:PORT (or ssl:HOST:PORT), e.g. perforce.example.com:1666",
        )
    return port


def check_user(user: str) -> str:
    if not _USER.fullmatch(user):
        raise UserError(
            f"not a Perforce user name: {user!r}",
            hint="letters, digits, '_', '.', '+' and '-', e.g. --user alice",
        )
    return user


@dataclass(frozen=True)
class P4Setup:
    port: str
    user: str
    config: Path  # the config file written
    ticket_file: str  # where the ticket is (the P4 API's tickets file)
    login: str  # "new ticket" (password asked), "already" (a valid ticket, or none needed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "port": self.port,
            "user": self.user,
            "config": str(self.config),
            "ticket_file": self.ticket_file,
            "login": self.login,
        }


def setup(cfg: Config, port: str, user: str, password: PasswordProvider | None) -> P4Setup:
    """Log ``user`` in on ``port`` (a valid ticket is used as it is; else ``password()`` is
    asked for once), then set ``[p4] port`` and ``user`` in the person's config file."""
    check_port(port)
    check_user(user)
    path = user_config.path(cfg.environ)
    doc = user_config.with_values(user_config.read(path), "p4", {"port": port, "user": user})
    asked: list[bool] = []

    def ask() -> str:
        asked.append(True)
        assert password is not None
        return password()

    settings = replace(P4Settings.from_config(cfg), port=port, user=user)
    session = P4Session(settings, password=ask if password is not None else None)
    with session:
        ticket_file = str(getattr(session.p4, "ticket_file", "") or "")
    user_config.write(path, doc)
    return P4Setup(port, user, path, ticket_file, "new ticket" if asked else "already")
