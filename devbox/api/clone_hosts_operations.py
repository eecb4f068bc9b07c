"""The endpoints of ``clone --hosts`` (:mod:`devbox.model.clone_hosts_plan`): SRC's host
freezes once and spools (``POST /containers/{name}/clone-exports``, a job; dropped with
``DELETE /clone-exports/{spool}``); another host reserves its clones' names (``POST
/clone-imports``) and, once the files are in (the PUTs of :mod:`devbox.api.transfer`), makes
them (``POST /clone-imports/{spool}/clones``, a job). Each checks the caller through the
service it calls (may clone SRC; the spool is the caller's; the quota there)."""

from __future__ import annotations

from typing import Any

from devbox.api.operations import Request
from devbox.errors import UserError


def _strings(req: Request, key: str) -> list[str]:
    value = req.body.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UserError(f"'{key}' must be a list of strings")
    return list(value)


def export(req: Request, name: str) -> dict[str, Any]:
    from devbox.services import clone_export

    have = _strings(req, "have_layers")
    return clone_export.export(req.cfg, req.caller, name, have, req.reporter("freeze"))


def drop_export(req: Request, spool: str) -> dict[str, Any]:
    from devbox.services import clone_export

    return clone_export.drop(req.cfg, req.caller, spool)


def reserve(req: Request) -> dict[str, Any]:
    from devbox.services import clone_import

    source = req.text("source") or ""
    if not source:
        raise UserError("a clone import needs its 'source'")
    names = _strings(req, "names")
    return clone_import.reserve(req.cfg, req.caller, source, names, req.text("image") or "")


def make_clones(req: Request, spool: str) -> dict[str, Any]:
    from devbox.services import clone_import

    keys = _strings(req, "public_keys")
    return clone_import.make_clones(
        req.cfg, req.caller, spool, req.body, req.reporter, req.limits(), keys
    )
