"""``clone --hosts``, SRC's host's side: freeze SRC once for every host of the run and spool
what the other hosts need of that freeze (the plan: :mod:`devbox.model.clone_hosts_plan`).

The spool (``<root>/run/moves/<id>/``, :mod:`devbox.state.move_spool`, kind ``export``, so
``GET /v1/exports/ID/{image,opt}`` of :mod:`devbox.api.transfer` streams it) holds the
snapshot image as one ``docker save`` file, without the base layers every destination holds,
and one tar of the /opt snapshot (:mod:`devbox.adapters.host.opt_tar`: a walk that never
follows a link; tenant links travel as links). Each file is made once, whatever the number
of hosts or clones; the snapshot itself stays here for this host's share
(``POST /containers/SRC/clones`` with ``snapshot``) and is collected when no clone uses it.
"""

from __future__ import annotations

import os
from typing import Any

from devbox.adapters.docker import image_files
from devbox.adapters.host import opt_tar
from devbox.config import Config
from devbox.errors import DevboxError
from devbox.model import clone_plan
from devbox.model import limits as limits_mod
from devbox.model.owners import Caller
from devbox.oplog import OpLog
from devbox.paths import Layout
from devbox.services import tenancy
from devbox.services.clone_snapshot import freeze
from devbox.services.clone_storage import gc_snapshots
from devbox.state import move_spool
from devbox.state.clone_records import snapshot_opt
from devbox.steps import Reporter, Step, StepContext, run_steps


def export(
    cfg: Config,
    caller: Caller,
    source: str,
    have_layers: list[str],
    reporter: Reporter | None = None,
) -> dict[str, Any]:
    """Freeze ``source`` and spool its snapshot image (leaving out ``have_layers``) and its
    /opt snapshot; on failure nothing stays (spool dropped, the snapshot collected)."""
    from devbox.state import migrate

    st = tenancy.require_container(cfg, caller, source, "clone")
    layout = Layout(cfg.root)
    migrate.ensure(layout)
    with OpLog(layout.container_log(source)) as log:
        log.write(f"clone --hosts: freeze {source} once, spool it for the other hosts")
        migrate.protect_store(layout, log)
        frozen = freeze(cfg, source, log, reporter)
        spool_id, folder = move_spool.new(
            layout, "export", caller, {"name": source, "snapshot": frozen.snap_id}
        )
        frozen.release()  # the spool's record names the snapshot now (clone_storage._exported)
        out: dict[str, Any] = {}

        def save(ctx: StepContext) -> None:
            out["image_bytes"] = image_files.save(
                frozen.image,
                folder / move_spool.IMAGE,
                lambda done, total: ctx.progress(done, total, "bytes"),
                have=have_layers,
            )
            shared = f", {len(have_layers)} base layers left out" if have_layers else ""
            ctx.note = limits_mod.human(out["image_bytes"]) + shared

        def pack(ctx: StepContext) -> None:
            opt = snapshot_opt(layout, frozen.snap_id)
            top = os.lstat(opt)
            with (folder / move_spool.OPT).open("xb") as fh:
                packed = opt_tar.pack(opt, fh, lambda d, t: ctx.progress(d, t, "bytes"))
            out["opt"] = {"entries": packed.entries, "bytes": packed.size}
            out["opt_bytes"] = (folder / move_spool.OPT).stat().st_size
            out["opt_top"] = {"uid": top.st_uid, "gid": top.st_gid, "mode": top.st_mode & 0o1777}
            ctx.note = f"{packed.entries} entries, {limits_mod.human(packed.size)}"

        try:
            run_steps(
                f"clone {source}: spool for the other hosts",
                [Step("save snapshot image", save), Step("pack /opt snapshot", pack)],
                log,
                reporter,
            )
        except BaseException:
            move_spool.drop(folder)
            _collect(cfg, frozen.snap_id, log)
            raise
    return {
        "id": spool_id,
        "source": source,
        "snapshot": frozen.snap_id,
        "image": frozen.image,
        "snapshot_method": frozen.method,
        "freeze_seconds": frozen.seconds,
        "labels": dict(st.labels),
        **out,
    }


def drop(cfg: Config, caller: Caller, spool_id: str) -> dict[str, Any]:
    """The run is over: drop the export's files; its snapshot goes too unless a clone here
    uses it (this host's share)."""
    layout = Layout(cfg.root)
    folder, record = move_spool.load(layout, "export", spool_id, caller)
    snap = str(record.get("snapshot") or "")
    move_spool.drop(folder)
    collected: list[str] = []
    if snap:
        clone_plan.check_snapshot_id(snap)
        with OpLog(layout.container_log(str(record.get("name")))) as log:
            collected = _collect(cfg, snap, log)
    return {"id": spool_id, "snapshot": snap, "snapshot_removed": bool(collected)}


def _collect(cfg: Config, snap_id: str, log: OpLog) -> list[str]:
    try:
        return gc_snapshots(cfg, only=[snap_id])
    except DevboxError as err:
        log.write(f"snapshot {snap_id} left for the next clean-up: {err}")
        return []
