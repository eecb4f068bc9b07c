"""A user's request carries their own Perforce identity (``p4``: port, user, charset and the
ticket their client read from their own tickets file, devbox.api.client_p4): checked here, then
the settings of their job (p4.port/user/charset), with the ticket in a one-ticket file of the
job's own (p4.tickets) that goes when the operation ends. The service never reads a file in a
user's home, never lends a user its own tickets, and never writes the ticket down elsewhere
(the audit log hides it, the job's log masks it). Root's settings come with its request."""

from __future__ import annotations

import os
import re
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devbox.errors import OperationFailed, UserError

if TYPE_CHECKING:
    from devbox.config import Config
    from devbox.model.owners import Caller


P4_TEXT_MAX = 256  # characters of the port, user or charset a request may send
_P4_CHARSET = re.compile(r"[A-Za-z0-9_.-]{1,64}", re.ASCII)
_P4_TICKET = re.compile(r"[0-9A-Za-z]{16,256}", re.ASCII)  # P4's are 32 hex digits
P4_TICKETS_DIR = "p4-tickets"  # under <root>/run: the jobs' one-ticket files (root only)


def p4_identity(caller: Caller, body: dict[str, Any]) -> dict[str, str] | None:
    """What a user's request says of their Perforce identity (``p4``: port, user, charset,
    ticket), checked; None for root (root's settings come with its request already). A user
    who sends no user is their unix login name, as P4 would make them."""
    from devbox.services.p4_setup import check_port, check_user

    if caller.uid == 0:
        return None
    given = body.get("p4") or {}
    if not isinstance(given, dict):
        raise UserError("'p4' must be an object of port, user, charset and ticket")
    unknown = set(given) - {"port", "user", "charset", "ticket"}
    if unknown:
        raise UserError(f"'p4' has unknown keys: {', '.join(sorted(map(str, unknown)))}")
    out: dict[str, str] = {}
    for key, value in given.items():
        if value in (None, ""):
            continue
        if not isinstance(value, str) or len(value) > P4_TEXT_MAX:
            raise UserError(f"'p4.{key}' must be a string of at most {P4_TEXT_MAX} characters")
        out[key] = value
    if "port" in out:  # check_port refuses rsh: (P4PORT=rsh:CMD runs CMD, as root here)
        check_port(out["port"])
    out["user"] = check_user(out.get("user") or caller.user)
    if "charset" in out and not _P4_CHARSET.fullmatch(out["charset"]):
        raise UserError(f"not a Perforce charset: {out['charset']!r}", hint="e.g. utf8")
    if "ticket" in out and not _P4_TICKET.fullmatch(out["ticket"]):
        raise UserError(
            "'p4.ticket' is not a Perforce ticket",
            hint="log in again: devbox dockeruser p4 setup",
        )
    return out


@contextmanager
def callers_config(cfg: Config, caller: Caller, body: dict[str, Any]) -> Iterator[Config]:
    """The job's config with the caller's Perforce identity: for a user, p4.port/user/charset
    from their request and p4.tickets a fresh one-ticket file of this job's (0600, in a
    root-only folder under <root>/run; empty when they sent no ticket: never the service's
    own tickets), removed when the operation ends. Root's config is as it came."""
    from devbox.adapters.p4_settings import P4Settings
    from devbox.oplog import register_secret

    identity = p4_identity(caller, body)
    if identity is None:
        yield cfg
        return
    ticket = identity.pop("ticket", "")
    if ticket:
        register_secret(ticket)
    cfg = cfg.with_overrides({f"p4.{key}": value for key, value in identity.items()}, "caller")
    folder = _tickets_folder(cfg)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not _own_folder(folder):
        raise OperationFailed(f"{folder} is not a folder of the service's own")
    os.chmod(folder, 0o700)
    path = folder / secrets.token_hex(12)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        try:
            if ticket:
                port = P4Settings.from_config(cfg).port
                os.write(fd, f"{port}={identity['user']}:{ticket}\n".encode())
        finally:
            os.close(fd)
        yield cfg.with_overrides({"p4.tickets": str(path)}, source="service")
    finally:
        path.unlink(missing_ok=True)


def sweep(cfg: Config) -> list[str]:
    """Remove the one-ticket files under <root>/run/p4-tickets (the service calls it as it
    starts, before any job: what is there was left by a job killed with SIGKILL)."""
    folder = _tickets_folder(cfg)
    if not _own_folder(folder):
        return []  # none, or not the service's own folder: never walked
    gone = []
    for entry in os.scandir(folder):
        if entry.is_file(follow_symlinks=False) or entry.is_symlink():
            os.unlink(entry.path)
            gone.append(entry.name)
    return gone


def _tickets_folder(cfg: Config) -> Path:
    from devbox.paths import Layout

    return Layout(cfg.root).run / P4_TICKETS_DIR


def _own_folder(folder: Path) -> bool:
    """A real folder (no link) of this process's user."""
    try:
        st = os.lstat(folder)
    except FileNotFoundError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid()
