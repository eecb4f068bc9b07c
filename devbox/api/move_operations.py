"""The endpoints of ``move`` that are plain requests and jobs (the streamed files are
:mod:`devbox.api.transfer`): each checks the caller through the service it calls (the
container's owner for an export, the spool's maker for the rest)."""

from __future__ import annotations

from typing import Any

from devbox.api.operations import Request
from devbox.errors import UserError


def export(req: Request, name: str) -> dict[str, Any]:
    from devbox.services import container_move

    have = req.body.get("have_layers") or []
    if not isinstance(have, list) or not all(isinstance(x, str) for x in have):
        raise UserError("'have_layers' must be a list of layer ids")
    return container_move.export(req.cfg, req.caller, name, req.reporter(), have)


def drop_export(req: Request, spool: str) -> dict[str, Any]:
    from devbox.services import container_move

    return container_move.drop_export(req.cfg, req.caller, spool, restart=req.flag("restart"))


def finish_export(req: Request, spool: str) -> dict[str, Any]:
    from devbox.services import container_move

    return container_move.finish_export(req.cfg, req.caller, spool)


def new_import(req: Request) -> dict[str, Any]:
    from devbox.services import container_move

    name = req.text("name")
    if not name:
        raise UserError("an import needs the container's 'name'")
    return container_move.new_import(req.cfg, req.caller, name, req.text("image") or "")


def import_container(req: Request, spool: str) -> dict[str, Any]:
    from devbox.services import container_move

    return container_move.import_container(req.cfg, req.caller, spool, req.body, req.reporter())


def drop_import(req: Request, spool: str) -> dict[str, Any]:
    from devbox.services import container_move

    return container_move.drop_import(req.cfg, req.caller, spool)
