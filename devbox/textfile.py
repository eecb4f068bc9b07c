"""Reading a text file the user names (a config layer, a branch or product map) with the
failures a user can cause turned into one-line user errors (exit 2), never a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from devbox.errors import UserError


def read_user_text(path: Path, what: str, hint: str) -> str:
    """``path``'s text (UTF-8); FileNotFoundError passes through (callers decide what a
    missing file means), anything else the user can cause is a UserError naming ``what``."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise
    except PermissionError:
        raise UserError(f"{what} {path}: cannot read it (permission denied)", hint=hint) from None
    except OSError as err:  # a directory, a dangling mount, ...
        raise UserError(
            f"{what} {path}: cannot read it: {err.strerror or err}", hint=hint
        ) from None
    except UnicodeDecodeError:
        raise UserError(f"{what} {path} is not UTF-8 text", hint=hint) from None


def read_user_toml(path: Path, what: str, hint: str) -> dict[str, Any]:
    """A TOML file a person wrote (``read_user_text``'s checks), parsed; a missing file is
    an empty table; invalid TOML is a UserError naming the file."""
    import tomllib

    try:
        text = read_user_text(path, what, hint)
    except FileNotFoundError:
        return {}
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise UserError(f"{path}: not valid TOML: {err}", hint="fix or remove the file") from None
