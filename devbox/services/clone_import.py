"""``clone --hosts``, another host's side: take SRC's frozen snapshot once and make this
host's share of the clones from it (the plan: :mod:`devbox.model.clone_hosts_plan`).

:func:`reserve` (``POST /v1/clone-imports``, quick) checks that every clone name given is
free here and makes an import spool (kind ``import`` of :mod:`devbox.state.move_spool`, so
``PUT /v1/imports/ID/{image,opt}`` of :mod:`devbox.api.transfer` fills it) recording those
names; it answers with the layers this host holds of SRC's image (left out of the file).

:func:`make_clones` (``POST /v1/clone-imports/ID/clones``, a job) turns the two files into a
snapshot of this host's, as a freeze here would have made it -- the image loaded only when
it tags the one snapshot name expected; the sysprep worked out from this engine's layers
(nothing of the sender's list is trusted); the /opt tar unpacked through ``RootDir``
(:func:`devbox.adapters.host.opt_tar.unpack`: absolute names, ``..``, paths through links,
hard links and devices refused, setuid bits cleared) into a new snapshot folder -- then
drops the spool and makes the reserved clones with the local clone's own steps
(:func:`devbox.services.clone.make_many`): this host's parent NIC, the caller's limits and
quota here, the caller's keys (devbox's key of *this* host among them) as authorized_keys,
and ``source`` = SRC in every record and label, so ``run-on --clones-of SRC`` finds them.
A failure before the clones undoes all of it; a clone that fails is rolled back alone.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from devbox.adapters.docker import engine, image_files, snapshots
from devbox.adapters.host import mounts, opt_tar, procfs
from devbox.config import Config
from devbox.errors import OperationFailed, UserError
from devbox.model import capacity, clone_plan, labels, move_plan, owners
from devbox.model import limits as limits_mod
from devbox.model.clone_plan import CloneRun
from devbox.model.limits import Limits
from devbox.model.naming import validate_name
from devbox.model.owners import Caller
from devbox.oplog import OpLog
from devbox.paths import Layout
from devbox.services.clone_snapshot import Frozen, Sysprep, existing_names, sysprep_received
from devbox.services.clone_storage import gc_snapshots
from devbox.state import move_spool
from devbox.state.clone_records import SNAPSHOT_FILE, snapshot_dir, snapshot_opt, write_record
from devbox.steps import Reporter, Step, StepContext, run_steps

KIND = "clone-import"  # the spool record's "what"


def reserve(cfg: Config, caller: Caller, source: str, names: list[str], image: str) -> dict:
    """A spool for this host's clones ``names`` of ``source`` (each refused, exit 2, when
    taken here), with the layers this host holds of ``image`` (SRC's image)."""
    from devbox.state import migrate

    validate_name(source, "source container name")
    layout = Layout(cfg.root)
    migrate.ensure(layout)
    clone_plan.require_free_names(names, existing_names(layout))
    spool_id, _ = move_spool.new(
        layout, "import", caller, {"what": KIND, "name": source, "clones": names}
    )
    attrs = engine.image_attrs(image) if image else None
    layers = [str(x) for x in ((attrs or {}).get("RootFS") or {}).get("Layers") or []]
    return {"id": spool_id, "names": names, "layers": layers}


def _strings(value: object, what: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise UserError(f"'{what}' must be an object of strings")
    return dict(value)


def _check_net_labels(src: dict[str, str]) -> None:
    """The VLAN id and interface name another host's labels give the clones here."""
    from devbox.model.lab_plan import check_ifname, check_vlan_id

    vlan = src.get(labels.VLAN)
    if vlan:
        if not vlan.isdigit():
            raise UserError(f"VLAN label {vlan[:20]!r} is not a number")
        check_vlan_id(int(vlan))
    if src.get(labels.IFNAME):
        check_ifname(src[labels.IFNAME], "interface name label")


def _mapping(value: object) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def make_clones(
    cfg: Config,
    caller: Caller,
    spool_id: str,
    body: dict[str, Any],
    reporter_for: Callable[[str], Reporter] | None = None,
    requested: Limits | None = None,
    login_keys: list[str] | None = None,
) -> dict[str, Any]:
    """Make the clones reserved in import ``spool_id`` from its two files (see the module)."""
    from devbox.services import clone as clone_service
    from devbox.services import network, tenancy
    from devbox.state import migrate

    t0 = time.monotonic()
    layout = Layout(cfg.root)
    migrate.ensure(layout)
    folder, record = move_spool.load(layout, "import", spool_id, caller)
    if record.get("what") != KIND:
        raise UserError(f"import {spool_id} is not a clone run's")
    source = validate_name(str(record.get("name") or ""), "source container name")
    names = clone_plan.require_free_names(
        [str(n) for n in record.get("clones") or []], existing_names(layout)
    )
    snap = clone_plan.check_snapshot_id(str(body.get("snapshot") or ""))
    src = _strings(body.get("labels"), "labels")
    exported, top = _mapping(body.get("opt")), _mapping(body.get("opt_top"))
    for part in (move_spool.IMAGE, move_spool.OPT):
        if not (folder / part).is_file():
            raise UserError(f"import {spool_id} has no {part} yet", hint="PUT it first")
    if os.path.lexists(snapshot_dir(layout, snap)):
        raise UserError(f"snapshot {snap} exists on this host already")
    lim = limits_mod.resolve(
        limits_mod.settings_of(cfg),
        procfs.host_size(),
        limits_mod.from_labels(src),
        requested or Limits(),
    )
    tenancy.check_quota(cfg, caller, [lim] * len(names))
    capacity.require_room(procfs.inotify_room(), len(names), f"cloning {source} here")
    workers = clone_plan.check_jobs(body.get("jobs"), len(names), os.cpu_count() or 1)
    # this host's LAN parent, not SRC's host's (the VLAN and interface name stay)
    src[labels.PARENT] = network.resolve_parent(cfg, None)
    _check_net_labels(src)
    image = clone_plan.snapshot_image(snap)
    if engine.image_attrs(image) is not None:
        raise UserError(f"an image {image} exists on this host already")
    snap_labels = {labels.ROLE: "snapshot", labels.SNAPSHOT: snap, labels.CLONE_OF: source}
    if src.get(labels.TEST_RUN):
        snap_labels[labels.TEST_RUN] = src[labels.TEST_RUN]
    prep: list[Sysprep] = []
    sdir = snapshot_dir(layout, snap)

    def load(ctx: StepContext) -> None:
        ctx.undo(f"remove image {image}", lambda: _remove_images(snap))
        image_files.load(folder / move_spool.IMAGE, image)
        prep.append(sysprep_received(snap, snap_labels))
        ctx.note = f"{image}, sysprep by {prep[0].method}"

    def unpack(ctx: StepContext) -> None:
        migrate.protect_store(layout, log)
        ctx.undo(f"remove {sdir}", lambda: mounts.remove_tree(sdir))
        sdir.mkdir(parents=True, mode=0o700)
        opt = snapshot_opt(layout, snap)
        opt.mkdir()
        got = opt_tar.unpack(folder / move_spool.OPT, opt, lambda d, t: ctx.progress(d, t, "bytes"))
        if not move_plan.same_opt(exported, {"entries": got.entries, "bytes": got.size}):
            raise OperationFailed(
                f"/opt snapshot arrived with {got.entries} entries, {got.size} bytes, not as "
                f"it left ({exported}): not cloning from it"
            )
        if {"uid", "gid", "mode"} <= set(top):
            os.chown(opt, int(top["uid"]), int(top["gid"]))
            os.chmod(opt, int(top["mode"]) & 0o1777)
        write_record(
            sdir / SNAPSHOT_FILE,
            {
                "id": snap,
                "source": source,
                "image": image,
                "method": "received",
                "created": time.time(),
                "source_image": src.get(labels.IMAGE, ""),
                "sysprep": prep[0].method,
                "removals": prep[0].removals,
                "from_spool": spool_id,
            },
        )
        ctx.note = f"{got.entries} entries, {limits_mod.human(got.size)}"

    with OpLog(layout.container_log(source)) as log:
        log.write(f"clone --hosts: snapshot {snap} of {source} received for {', '.join(names)}")
        try:
            received = run_steps(
                f"clone {source}: receive snapshot {snap}",
                [Step("load snapshot image", load), Step("unpack /opt snapshot", unpack)],
                log,
                reporter_for("receive") if reporter_for else None,
            )
        finally:
            move_spool.drop(folder)
    frozen = Frozen(
        snap,
        image,
        "received",
        received.seconds,
        src,
        prep[0].method,
        prep[0].removals,
        dict(engine.image_labels(image) or {}),
    )
    results, interrupted = clone_service.make_many(
        cfg,
        names,
        source,
        frozen,
        workers,
        reporter_for,
        lim,
        owners.owner_labels(caller),
        list(login_keys or []),
    )
    if not any(r.ok for r in results):
        gc_snapshots(cfg, only=[snap])
    if interrupted:
        from devbox.errors import Interrupted

        raise Interrupted(f"clone of {source} here interrupted; unfinished clones rolled back")
    return CloneRun(
        source=source,
        snapshot=snap,
        image=image,
        snapshot_method="received",
        freeze_seconds=received.seconds,
        seconds=time.monotonic() - t0,
        clones=results,
    ).to_dict(reach=bool(body.get("reach")))


def require_may_remove_clones(cfg: Config, caller: Caller, source: str) -> None:
    """``remove-dev-container --clones-of SRC`` on a host SRC is not on (its clones came
    with ``clone --hosts``): the caller must be allowed to remove each clone here; a clone
    directory left without its container (no labels say whose) is an admin's to remove."""
    from devbox.services import tenancy
    from devbox.state.clone_records import clone_records, clones_of

    names = clones_of(source)
    left = [
        n
        for n, r in clone_records(Layout(cfg.root)).items()
        if r.get("source") == source and n not in names
    ]
    if not names and not left:
        raise UserError(
            f"no container named '{source}' and no clones of it on this host",
            hint="list them with 'devbox dockeruser list-containers'",
        )
    for name in names:
        tenancy.require_container(cfg, caller, name, "remove")
    if left and not caller.admin:
        raise UserError(
            f"clone folders without a container here: {', '.join(sorted(left))}",
            hint="an admin removes them: devbox dockeruser remove-dev-container --clones-of "
            f"{source}",
        )


def _remove_images(snap: str) -> None:
    snapshots.remove_image(clone_plan.snapshot_image(snap))
    snapshots.remove_image(clone_plan.snapshot_raw_image(snap))
