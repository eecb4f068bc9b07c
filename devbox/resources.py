"""Where the data files live: ``roles/`` and ``templates/``.

From an installed wheel they sit in ``devbox/_data/``; from a checkout (or an editable install)
they sit next to the ``devbox`` package. Both are found the same way.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PKG = Path(__file__).resolve().parent


@cache
def data_dir() -> Path:
    bundled = _PKG / "_data"
    if (bundled / "roles").is_dir():
        return bundled
    return _PKG.parent


def roles_dir() -> Path:
    return data_dir() / "roles"


def role_dir(role: str) -> Path:
    return roles_dir() / role


def templates_dir() -> Path:
    return data_dir() / "templates"
