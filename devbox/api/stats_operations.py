"""``GET /v1/stats``: the usage figures of devbox containers. As for the listing, any member
of group ``devbox`` sees every container of this host (and its owner); only acting on one is
the owner's. As in :mod:`devbox.api.operations`: check, then one service call."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from devbox.errors import UserError
from devbox.model.naming import validate_name

if TYPE_CHECKING:
    from devbox.api.operations import Request

MAX_NAMES = 256


def names_of(req: Request) -> list[str]:
    """``names``: a comma-separated string (``?names=a,b``) or a list of strings; each a
    valid container name (UserError otherwise)."""
    raw = req.body.get("names") or []
    if isinstance(raw, str):
        raw = [n for n in raw.split(",") if n]
    if not isinstance(raw, list) or not all(isinstance(n, str) for n in raw):
        raise UserError("'names' must be container names, separated by commas")
    if len(raw) > MAX_NAMES:
        raise UserError(f"at most {MAX_NAMES} names at once", hint="leave them out: all")
    for name in raw:
        validate_name(name)
    return list(raw)


def stats(req: Request) -> list[dict[str, Any]]:
    """One row per container: the ``names`` asked for (an unknown one is exit 2), else every
    running devbox container of this root; ``no_size`` leaves /opt unmeasured."""
    from devbox.services import container_stats

    rows = container_stats.stats(req.cfg, names_of(req), with_size=not req.flag("no_size"))
    return [row.to_dict() for row in rows]
