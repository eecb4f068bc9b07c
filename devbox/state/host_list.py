"""The hosts a user may reach with ``--host``: ``[hosts.NAME]`` tables in the user's own config
file (``~/.config/devbox/config.toml``, written here, as that user) over the admin-wide list
``/etc/devbox/hosts.toml`` (read only). Entries are :class:`devbox.model.hosts.HostEntry`.

Writing the user's file keeps every other setting in it; TOML comments in it are not kept
(tomli-w writes the parsed document back)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from devbox.config import user_config_path
from devbox.jsonfile import write_text
from devbox.model import hosts
from devbox.model.hosts import HostEntry

SYSTEM_HOSTS = Path("/etc/devbox/hosts.toml")


def _document(path: Path) -> dict[str, Any]:
    from devbox.textfile import read_user_toml

    return read_user_toml(path, "config file", "it must be a TOML file; fix or remove it")


def read(path: Path) -> dict[str, HostEntry]:
    """The hosts of one file (missing: none)."""
    return hosts.hosts_of(_document(path), str(path))


def user_file(environ: Mapping[str, str] | None = None) -> Path:
    return user_config_path(os.environ if environ is None else environ)


def load(
    environ: Mapping[str, str] | None = None, system: Path = SYSTEM_HOSTS
) -> dict[str, HostEntry]:
    """Every host this user may name: the admin's list with the user's own over it."""
    return hosts.merged(read(system), read(user_file(environ)))


def resolve(name: str, environ: Mapping[str, str] | None = None) -> HostEntry:
    return hosts.resolve(load(environ), name)


def add(path: Path, entry: HostEntry) -> bool:
    """Put ``entry`` in the file at ``path`` (replacing one of its name); True if it was new."""
    import tomli_w

    doc = _document(path)
    hosts.hosts_of(doc, str(path))  # a broken [hosts] table fails before anything is written
    tables = doc.setdefault("hosts", {})
    new = entry.name not in tables
    tables[entry.name] = entry.to_table()
    _write(path, tomli_w.dumps(doc))
    return new


def remove(path: Path, name: str) -> bool:
    """Take host ``name`` out of the file at ``path``; False if it was not there."""
    import tomli_w

    doc = _document(path)
    tables = doc.get("hosts")
    if not isinstance(tables, dict) or name not in tables:
        return False
    del tables[name]
    if not tables:
        del doc["hosts"]
    _write(path, tomli_w.dumps(doc))
    return True


def _write(path: Path, text: str) -> None:
    mode = 0o600
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_text(path, text, mode=mode)
