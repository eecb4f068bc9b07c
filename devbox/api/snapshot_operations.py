"""Snapshots of a container (``devbox dockeruser snapshot``, ``snapshots``, ``restore``,
``snapshot-remove``): its owner, root and the admin group only. As in
:mod:`devbox.api.operations`: check, then one service call."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from devbox.errors import UserError

if TYPE_CHECKING:
    from devbox.api.operations import Request


def _tag(req: Request, required: bool) -> str | None:
    tag = req.text("tag")
    if tag in (None, ""):
        if required:
            raise UserError("which snapshot?", hint="give its tag (see 'snapshots NAME')")
        return None
    from devbox.model.snapshot_plan import validate_tag

    return validate_tag(tag)


def _owner(req: Request, name: str, action: str) -> None:
    from devbox.services import tenancy

    tenancy.require_container(req.cfg, req.caller, name, action)


def list_snapshots(req: Request, name: str) -> list[dict[str, Any]]:
    from devbox.services import snapshots

    _owner(req, name, "list the snapshots of")
    return snapshots.list_snapshots(req.cfg, name, with_size=not req.flag("no_size"))


def snapshot(req: Request, name: str) -> dict[str, Any]:
    from devbox.services import snapshots

    tag = _tag(req, required=False)
    _owner(req, name, "snapshot")
    return snapshots.snapshot(req.cfg, name, tag, req.reporter(f"snapshot {name}"))


def restore(req: Request, name: str) -> dict[str, Any]:
    from devbox.services import snapshots

    tag = _tag(req, required=True)
    assert tag is not None
    _owner(req, name, "restore")
    return snapshots.restore(req.cfg, name, tag, req.reporter(f"restore {name} {tag}"))


def remove_snapshot(req: Request, name: str, tag: str) -> dict[str, Any]:
    from devbox.model.snapshot_plan import validate_tag
    from devbox.services import snapshots

    validate_tag(tag)
    _owner(req, name, "remove the snapshots of")
    return snapshots.remove_snapshot(req.cfg, name, tag, foreign_ok=req.caller.admin)
