"""``move``, one host's side of it (the plan is :mod:`devbox.model.move_plan`; the client
streams the files between the two services).

Export (the source): stop the container, ``docker commit`` it as ``devbox-move/<name>:<id>``,
``docker save`` that into the spool and pack its /opt there (:mod:`devbox.adapters.host.
opt_tar`: links as links, never followed); undone (image dropped, the container started
again) on failure. :func:`drop_export` undoes a finished export later (the move failed
further on); :func:`finish_export` removes the original once the destination answers.

Import (the destination): the two files spooled under ``<root>/run/moves/<id>/``, then one
job: load the image (only when it tags the one expected name), extract /opt into a new
``<root>/containers/<name>/opt`` through RootDir, create the container with the labels
:func:`devbox.model.move_plan.destination_labels` gives, and boot, attach (same MAC, so the
same DHCP client id and address), ARP-check and wait for sshd to prove the host key the
source recorded, with the clone's own step functions. Any failure undoes all of it.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

from devbox.adapters.docker import containers as dc
from devbox.adapters.docker import engine, image_files, snapshots
from devbox.adapters.host import opt_tar
from devbox.config import Config
from devbox.errors import OperationFailed, UserError
from devbox.locks import name_lock
from devbox.model import labels, macs, move_plan, owners
from devbox.model import limits as limits_mod
from devbox.model.naming import validate_name
from devbox.model.owners import Caller
from devbox.oplog import OpLog
from devbox.paths import Layout
from devbox.services import clone_steps, container_lifecycle, tenancy
from devbox.services.clone_snapshot import Frozen
from devbox.services.clone_steps import CloneJob
from devbox.state import move_spool
from devbox.state.container_records import read_state, write_state
from devbox.steps import Reporter, Step, StepContext, run_steps

REPOSITORY = "devbox-move"
ROOM_MARGIN = 256 << 20  # bytes a spool leaves free on its filesystem
_KEY = re.compile(r"(ssh-[a-z0-9-]+|ecdsa-sha2-nistp\d+) [A-Za-z0-9+/=]+")


def image_ref(name: str, spool_id: str) -> str:
    return f"{REPOSITORY}/{name}:{spool_id}"


# ---------------------------------------------------------------- the source
def export(
    cfg: Config,
    caller: Caller,
    name: str,
    reporter: Reporter | None = None,
    have_layers: list[str] | None = None,
) -> dict:
    """Stop ``name`` (when running), commit it and pack its /opt into a new export spool;
    the image file leaves out ``have_layers`` (the destination holds them: its base)."""
    from devbox.state import migrate

    st = tenancy.require_container(cfg, caller, name, "move")
    layout = Layout(cfg.root)
    migrate.ensure(layout)
    keys = _recorded_host_keys(layout, name)
    if not keys:
        raise UserError(
            f"devbox has no recorded SSH host key of {name}: the destination could not check "
            "the moved container's sshd",
            hint=f"start it once: devbox dockeruser start-dev-container {name}",
        )
    mac = str(read_state(layout, name).get("mac") or "")
    if not mac:
        from devbox.services.nic import store

        mac = next((r.mac for r in store(cfg).for_container(name)), "")
    mac = macs.parse_mac(mac or macs.mac_for_name(name))
    opt = layout.opt_dir(name)
    top = os.lstat(opt) if opt.is_dir() and not opt.is_symlink() else None
    if top is None:
        raise UserError(f"{name} has no /opt folder at {opt}; nothing to move it with")
    spool_id, folder = move_spool.new(layout, "export", caller, {"name": name})
    ref = image_ref(name, spool_id)
    out: dict[str, Any] = {}

    def stop(ctx: StepContext) -> None:
        if not st.running:
            ctx.skip("not running")
        ctx.undo(f"start {name} again", lambda: container_lifecycle.start(cfg, name))
        dc.stop(name)

    def commit(ctx: StepContext) -> None:
        ctx.undo(f"remove image {ref}", lambda: engine.remove_image(ref, force=True))
        snapshots.commit(name, f"{REPOSITORY}/{name}", spool_id, {})
        ctx.note = ref

    def save(ctx: StepContext) -> None:
        out["image_bytes"] = image_files.save(
            ref,
            folder / move_spool.IMAGE,
            lambda done, total: ctx.progress(done, total, "bytes"),
            have=have_layers or [],
        )
        shared = f", the {len(have_layers)} base layers there left out" if have_layers else ""
        ctx.note = limits_mod.human(out["image_bytes"]) + shared

    def pack(ctx: StepContext) -> None:
        with (folder / move_spool.OPT).open("xb") as fh:
            packed = opt_tar.pack(opt, fh, lambda done, total: ctx.progress(done, total, "bytes"))
        out["opt"] = {"entries": packed.entries, "bytes": packed.size}
        out["opt_bytes"] = (folder / move_spool.OPT).stat().st_size
        ctx.note = f"{packed.entries} entries, {limits_mod.human(packed.size)}"

    # no name lock held: the undo's start takes it (a second flock here would refuse it)
    with OpLog(layout.container_log(name)) as log:
        try:
            run_steps(
                f"move {name}: export",
                [
                    Step("stop", stop),
                    Step("commit", commit),
                    Step("save image", save),
                    Step("pack /opt", pack),
                ],
                log,
                reporter,
            )
        except BaseException:
            move_spool.drop(folder)
            raise
    move_spool.update(folder, image=ref, running=st.running)
    return {
        "id": spool_id,
        "name": name,
        "image": ref,
        "running": st.running,
        "labels": dict(st.labels),
        "mac": mac,
        "host_keys": keys,
        "opt_top": {"uid": top.st_uid, "gid": top.st_gid, "mode": top.st_mode & 0o1777},
        **out,
    }


def _recorded_host_keys(layout: Layout, name: str) -> list[str]:
    """The host keys devbox recorded for ``name`` when it made it (its own known_hosts;
    never read from the container), a stopped container's too."""
    from devbox.state.container_records import known_hosts

    try:
        lines = known_hosts(layout).read_text().splitlines()
    except FileNotFoundError:
        return []
    keys = [" ".join(p[1:3]) for line in lines if len(p := line.split()) >= 3 and p[0] == name]
    return [k for k in keys if _KEY.fullmatch(k)]


def export_file(cfg: Config, caller: Caller, spool_id: str, part: str) -> Path:
    """The spooled file ``part`` (image or opt) of the caller's export ``spool_id``."""
    folder, _ = move_spool.load(Layout(cfg.root), "export", spool_id, caller)
    path = folder / (move_spool.IMAGE if part == "image" else move_spool.OPT)
    if not path.is_file():
        raise UserError(f"export {spool_id} has no {part} file")
    return path


def drop_export(cfg: Config, caller: Caller, spool_id: str, restart: bool) -> dict:
    """The move went no further: drop the export's image and spool, and (``restart``) start
    the container again when it ran before the export."""
    layout = Layout(cfg.root)
    folder, rec = move_spool.load(layout, "export", spool_id, caller)
    name = str(rec.get("name"))
    if rec.get("image"):
        engine.remove_image(str(rec["image"]), force=True)
    move_spool.drop(folder)
    started = False
    st = dc.inspect(name)
    if restart and rec.get("running") and st is not None and not st.running:
        container_lifecycle.start(cfg, name)
        started = True
    return {"id": spool_id, "name": name, "started": started}


def finish_export(cfg: Config, caller: Caller, spool_id: str) -> dict:
    """The moved container answers at its destination: remove the original here, without a
    DHCPRELEASE (the lease is the destination's now: same client id), /opt included."""
    from devbox.services.nic import store

    layout = Layout(cfg.root)
    folder, rec = move_spool.load(layout, "export", spool_id, caller)
    name = str(rec.get("name"))
    st = tenancy.require_container(cfg, caller, name, "move")
    if st.running:
        raise UserError(
            f"{name} was started again here after its export: not removing it",
            hint=f"two copies now share its MAC; stop one: devbox dockeruser stop {name}",
        )
    leases = store(cfg)
    with leases.container_lock(name):
        for nic in leases.for_container(name):
            leases.delete(nic.key)  # forgotten, not released
    if rec.get("image"):  # first: the image it ran from (a move's too) goes with it below
        engine.remove_image(str(rec["image"]), force=True)
    removed = container_lifecycle.remove(cfg, name, purge=True)
    move_spool.drop(folder)
    return {"id": spool_id, "name": name, "removed": removed.removed_container}


# ---------------------------------------------------------------- the destination
def new_import(cfg: Config, caller: Caller, name: str, image: str = "") -> dict:
    """A new import spool for container ``name`` (refused when ``name`` is taken here), with
    the layers this host holds of ``image`` (the container's base: none travel again)."""
    from devbox.state import migrate

    validate_name(name)
    layout = Layout(cfg.root)
    migrate.ensure(layout)
    _require_free(layout, name)
    spool_id, _ = move_spool.new(layout, "import", caller, {"name": name})
    attrs = engine.image_attrs(image) if image else None
    layers = [str(x) for x in ((attrs or {}).get("RootFS") or {}).get("Layers") or []]
    return {"id": spool_id, "name": name, "layers": layers}


def _require_free(layout: Layout, name: str) -> None:
    if dc.inspect(name) is not None:
        raise UserError(f"a container named '{name}' exists on this host already")
    if os.path.lexists(layout.container_dir(name)):
        raise UserError(
            f"{layout.container_dir(name)} exists on this host (a kept /opt?): not touching it",
            hint=f"remove it first: devbox dockeruser remove-dev-container {name} --purge",
        )


def import_path(cfg: Config, caller: Caller, spool_id: str, part: str, size: int) -> Path:
    """Where the streamed ``part`` of import ``spool_id`` goes; refused (exit 2) when the
    disk has not ``size`` bytes and a margin free."""
    folder, _ = move_spool.load(Layout(cfg.root), "import", spool_id, caller)
    free = shutil.disk_usage(folder).free
    if size < 0 or size + ROOM_MARGIN > free:
        raise UserError(
            f"this host has {limits_mod.human(free)} free for the import, "
            f"{limits_mod.human(max(size, 0))} are coming",
        )
    return folder / (move_spool.IMAGE if part == "image" else move_spool.OPT)


def _mapping(value: object) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def drop_import(cfg: Config, caller: Caller, spool_id: str) -> dict:
    folder, _ = move_spool.load(Layout(cfg.root), "import", spool_id, caller)
    move_spool.drop(folder)
    return {"id": spool_id}


def import_container(
    cfg: Config, caller: Caller, spool_id: str, body: dict[str, Any], reporter: Reporter | None
) -> dict:
    """Make the container of import ``spool_id`` from its spooled files (see the module)."""
    from devbox.adapters.host import procfs
    from devbox.services import daemon_control, network
    from devbox.state import migrate

    layout = Layout(cfg.root)
    migrate.ensure(layout)
    folder, rec = move_spool.load(layout, "import", spool_id, caller)
    name = str(rec["name"])
    validate_name(name)
    ref = str(body.get("image") or "")
    if not re.fullmatch(rf"{REPOSITORY}/{re.escape(name)}:[0-9a-f]{{16}}", ref):
        raise UserError(f"'image' must be {REPOSITORY}/{name}:<export id>")
    mac = macs.parse_mac(str(body.get("mac") or ""))
    src = body.get("labels")
    if not isinstance(src, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in src.items()
    ):
        raise UserError("'labels' must be an object of strings")
    keys = [k for k in body.get("host_keys") or [] if isinstance(k, str) and _KEY.fullmatch(k)]
    if not keys:
        raise UserError("'host_keys' must name the container's SSH host keys")
    exported: dict[str, Any] = _mapping(body.get("opt"))
    top: dict[str, Any] = _mapping(body.get("opt_top"))
    asked = limits_mod.from_labels(src)
    limits = limits_mod.resolve(limits_mod.settings_of(cfg), procfs.host_size(), asked)
    tenancy.check_quota(cfg, caller, [limits])
    for part in (move_spool.IMAGE, move_spool.OPT):
        if not (folder / part).is_file():
            raise UserError(f"import {spool_id} has no {part} yet", hint="PUT it first")
    parent = network.resolve_parent(cfg, None)
    opt = layout.opt_dir(name)

    with name_lock(layout.locks, name, "making"), OpLog(layout.container_log(name)) as log:
        _require_free(layout, name)
        frozen = Frozen(spool_id, ref, "move", 0.0, dict(src))
        job = CloneJob(
            cfg=cfg,
            name=name,
            source=name,
            frozen=frozen,
            log=log,
            limits=limits,
            owner_labels=owners.owner_labels(caller),
        )
        job.parent, job.mac = parent or None, mac
        job.keys = {f"key{i}": (b"", k.encode()) for i, k in enumerate(keys)}
        got: dict[str, int] = {}

        def load(ctx: StepContext) -> None:
            ctx.undo(f"remove image {ref}", lambda: engine.remove_image(ref, force=True))
            image_files.load(folder / move_spool.IMAGE, ref)
            if engine.image_attrs(ref) is None:
                raise OperationFailed(f"the engine has no {ref} after loading it")

        def unpack(ctx: StepContext) -> None:
            migrate.protect_store(layout, log)
            ctx.undo(
                f"remove {layout.container_dir(name)} (made by this move)",
                lambda: shutil.rmtree(layout.container_dir(name), ignore_errors=True),
            )
            layout.container_dir(name).mkdir(parents=True, mode=0o700)
            opt.mkdir()
            packed = opt_tar.unpack(
                folder / move_spool.OPT, opt, lambda d, t: ctx.progress(d, t, "bytes")
            )
            got.update(entries=packed.entries, bytes=packed.size)
            if not move_plan.same_opt(exported, got):
                raise OperationFailed(
                    f"/opt of {name} arrived with {got} but left with {exported}: not making it"
                )
            if {"uid", "gid", "mode"} <= set(top):
                os.chown(opt, int(top["uid"]), int(top["gid"]))
                os.chmod(opt, int(top["mode"]) & 0o1777)
            ctx.note = f"{packed.entries} entries, {limits_mod.human(packed.size)}"

        def create(ctx: StepContext) -> None:
            from devbox.adapters.host import cgroupfs
            from devbox.model.vmstyle import systemd_run_kwargs

            lbls = move_plan.destination_labels(
                src,
                root=str(cfg.root),
                opt_dir=str(opt),
                mac=mac,
                parent=parent,
                owner=job.owner_labels,
                image_labels=engine.image_labels(ref) or {},
            )
            cgmode = cgroupfs.mode()
            kwargs = systemd_run_kwargs(
                name=name, image=ref, opt_dir=opt, labels=lbls, cgroup_mode=cgmode, limits=limits
            )
            ctx.undo(f"remove container {name}", lambda: dc.remove(name))
            dc.create(kwargs)
            cgroupfs.apply_outer_limits(name, limits, cgmode)
            ctx.note = f"MAC {mac}, its own host keys"

        def keeper(ctx: StepContext) -> None:
            daemon_control.ensure_running(cfg)

        steps = [
            Step("load image", load),
            Step("/opt", unpack),
            Step("create", create),
            *(
                Step(step_name, functools.partial(fn, job))
                for step_name, fn in (
                    ("boot", clone_steps.boot),
                    ("attach LAN (DHCP)", clone_steps.attach),
                    ("ARP check", clone_steps.arp_check),
                    ("wait for sshd", clone_steps.wait_ssh),
                )
            ),
            Step("lease keeper", keeper),
        ]
        result = run_steps(
            f"move {name}: import",
            steps,
            log,
            reporter,
            cleanup_hint=f"devbox dockeruser remove-dev-container {name} --purge",
        )
        write_state(
            layout,
            name,
            ready=True,
            kind=src.get(labels.KIND, "dev"),
            branch=src.get(labels.BRANCH, ""),
            image=ref,
            ip=job.ip,
            mac=job.mac,
            made=time.time(),
            moved_from=str(body.get("source") or ""),
        )
    move_spool.drop(folder)
    return {
        "name": name,
        "ip": job.ip,
        "mac": job.mac,
        "image": ref,
        "opt": got,
        "seconds": result.seconds,
    }
