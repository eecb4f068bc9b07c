"""A person's own devbox config file, ``~/.config/devbox/config.toml``, written by that person
(never by root for them): settings set in one table, every other key kept (the ``[hosts]``
tables of ``devbox common hosts add`` too; TOML comments are not kept: tomli-w writes the
parsed document back)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from devbox.config import user_config_path
from devbox.errors import UserError
from devbox.jsonfile import write_text

HINT = "it must be a TOML file; fix or remove it"


def path(environ: Mapping[str, str] | None = None) -> Path:
    return user_config_path(os.environ if environ is None else environ)


def read(file: Path) -> dict[str, Any]:
    """The parsed file (missing: empty); a broken one is a UserError naming it."""
    from devbox.textfile import read_user_toml

    return read_user_toml(file, "config file", HINT)


def with_values(doc: dict[str, Any], table: str, values: Mapping[str, str]) -> dict[str, Any]:
    """``doc`` with ``[table]`` holding ``values`` over what it held."""
    current = doc.get(table, {})
    if not isinstance(current, dict):
        raise UserError(f"config file: '{table}' is not a table", hint=HINT)
    return {**doc, table: {**current, **values}}


def write(file: Path, doc: dict[str, Any]) -> None:
    """Replace the file by ``doc`` (temp + rename); a new file is 0600 in a 0700 folder, an
    existing one keeps its mode."""
    import tomli_w

    mode = 0o600
    try:
        mode = file.stat().st_mode & 0o777
    except FileNotFoundError:
        file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_text(file, tomli_w.dumps(doc), mode=mode)
