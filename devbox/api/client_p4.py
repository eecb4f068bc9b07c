"""The caller's own Perforce identity for a request the service runs for them: server, user and
charset from the caller's devbox config (or P4PORT/P4USER/P4CHARSET), and the login ticket for
that server and user from the caller's own tickets file (P4TICKETS, else ``~/.p4tickets``),
read here, as the caller. The service never opens a file in a user's home; it writes the
ticket into a one-ticket file of its own for the job (devbox.api.operations)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from devbox.adapters.p4_settings import P4Settings

if TYPE_CHECKING:
    from collections.abc import Mapping

    from devbox.config import Config

TICKETS_MAX = 1 << 20  # bytes of a tickets file read at most


def tickets_path(environ: Mapping[str, str], configured: str = "") -> Path:
    """Where the P4 API keeps the caller's tickets: ``configured`` (p4.tickets), P4TICKETS,
    else ``~/.p4tickets``."""
    given = configured or environ.get("P4TICKETS", "")
    if given:
        return Path(given).expanduser()
    home = environ.get("HOME") or str(Path.home())
    return Path(home) / ".p4tickets"


def find_ticket(text: str, port: str, user: str) -> str | None:
    """The ticket of ``user`` on ``port`` in a tickets file's text: lines ``PORT=USER:TICKET``
    (the P4 API's format); the last line for that server and user wins, as the P4 API
    rewrites one line per server and user."""
    key = f"{port}={user}"
    found = None
    for line in text.splitlines():
        left, sep, ticket = line.strip().rpartition(":")
        if sep and left == key and ticket:
            found = ticket
    return found


def read_ticket(path: Path, port: str, user: str) -> str | None:
    try:
        with path.open("rb") as fh:
            data = fh.read(TICKETS_MAX)
    except OSError:
        return None
    return find_ticket(data.decode("utf-8", errors="replace"), port, user)


def own_p4(cfg: Config, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The ``p4`` part of a request body: the keys that are set of port, user, charset and
    the ticket for that port and user (when the caller has one)."""
    env = cfg.environ if environ is None else environ
    settings = P4Settings.from_config(cfg)
    out = {
        key: value
        for key, value in (
            ("port", settings.port),
            ("user", settings.user or env.get("USER", "") or env.get("LOGNAME", "")),
            ("charset", settings.charset),
        )
        if value
    }
    if out.get("port") and out.get("user"):
        ticket = read_ticket(tickets_path(env, cfg.text("p4.tickets")), out["port"], out["user"])
        if ticket:
            out["ticket"] = ticket
    return out


def for_request(cfg: Config, local_root: bool) -> dict[str, str] | None:
    """``own_p4`` for anyone but root on this machine's own service (root's settings and
    environment travel with its requests already); None when nothing is set."""
    if local_root:
        return None
    p4 = own_p4(cfg)
    return p4 or None
