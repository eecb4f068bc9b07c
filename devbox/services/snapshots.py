"""Snapshots of one dev container: take one, list them, restore one, remove one.

A snapshot freezes the container as a clone freezes its source (paused for as long as the
commit and the /opt copy take, under its freeze lock): ``docker commit`` of its root
filesystem, and a copy of its /opt that shares blocks where the filesystem can (``cp -a
--reflink=auto``, links copied as links, never followed; the container is frozen, so nothing
in it can swap a folder for a link under the copy). Names and the listing are planned in
:mod:`devbox.model.snapshot_plan`.

A restore is one container identity kept: the container is stopped, its current state is kept
as the snapshot ``before-restore-<time>`` (a commit, and its /opt *moved* there: a restore
never deletes user data), the container is set aside under another name, /opt is copied back
from the snapshot, and the container is made again from the snapshot's image with the same
name, labels and host config (so the same MAC, hence the same lease and IP), then started if
it was running. Any failure undoes it all in reverse: the old container back under its name
with its /opt, started again. Only then is the old container removed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devbox.adapters.docker import containers as dc
from devbox.adapters.docker import recreate, snapshots
from devbox.adapters.docker.engine import container_attrs, image_attrs, tag_image
from devbox.adapters.host import mounts
from devbox.config import Config
from devbox.errors import OperationFailed, UserError
from devbox.jsonfile import CorruptRecord, read_json, write_json
from devbox.locks import name_lock
from devbox.model import owners
from devbox.model import snapshot_plan as plan
from devbox.oplog import OpLog
from devbox.paths import Layout
from devbox.services import devbox_container, pause_guard
from devbox.steps import Reporter, Step, StepContext, run_steps


def _undo(fn: Any, *args: Any) -> Any:
    def run() -> None:
        fn(*args)

    return run


def folder(cfg: Config, name: str) -> Path:
    """``<record dir>/snapshots``: the /opt copies and records of ``name``'s snapshots."""
    from devbox.state import migrate

    return migrate.record_dir(Layout(cfg.root), name) / plan.DIR


def _opt(cfg: Config, name: str) -> Path:
    from devbox.state import migrate

    return migrate.record_dir(Layout(cfg.root), name) / "opt"


def _records(cfg: Config, name: str) -> dict[str, dict[str, Any]]:
    base = folder(cfg, name)
    out: dict[str, dict[str, Any]] = {}
    if not base.is_dir() or base.is_symlink():
        return out
    for entry in sorted(base.iterdir()):
        if entry.is_symlink() or not entry.is_dir():
            continue
        try:
            out[entry.name] = read_json(entry / plan.RECORD)
        except (FileNotFoundError, CorruptRecord):
            continue  # half-made: listed from its image, if any
    return out


def _image_ids(cfg: Config, name: str) -> dict[str, str]:
    """tag -> image id of ``name``'s snapshot images of this root."""
    out = {}
    prefix = plan.image_repository(name) + ":"
    for image_id, tags in recreate.image_tags(*plan.image_filters(name, str(cfg.root))):
        for ref in tags:
            tag = ref.removeprefix(prefix)
            if ref.startswith(prefix) and tag != plan.RUNNING_TAG:
                out[tag] = image_id
    return out


def _container(cfg: Config, name: str) -> dc.ContainerState:
    st = devbox_container.require(name, cfg)
    if mounts.is_mounted(_opt(cfg, name)):
        raise UserError(
            f"{name}'s /opt is a clone's overlay: devbox snapshots only containers with an "
            "/opt of their own",
            hint="snapshot the clone's source instead",
        )
    if not _opt(cfg, name).is_dir():
        raise UserError(f"{name} has no /opt on the host ({_opt(cfg, name)})")
    return st


def _require_new(cfg: Config, name: str, tag: str) -> None:
    if os.path.lexists(folder(cfg, name) / tag) or image_attrs(plan.image_ref(name, tag)):
        raise UserError(f"{name} has a snapshot '{tag}' already", hint="pick another --tag")


# ---- snapshot --------------------------------------------------------------------------------
def _take(
    cfg: Config,
    st: dc.ContainerState,
    tag: str,
    log: OpLog,
    ctx: StepContext,
    move_opt: bool = False,
) -> dict[str, Any]:
    """Commit ``st`` and copy (or, for a restore's ``before-restore``, move) its /opt as
    snapshot ``tag``; each made thing's undo registered on ``ctx``."""
    name = st.name
    sdir = folder(cfg, name) / tag
    ref = plan.image_ref(name, tag)
    repo, _, image_tag = ref.rpartition(":")
    _require_new(cfg, name, tag)
    sdir.parent.mkdir(mode=0o700, exist_ok=True)
    ctx.undo(f"remove {sdir}", _undo(mounts.remove_tree, sdir))
    ctx.undo(f"remove image {ref}", _undo(snapshots.remove_image, ref))
    snap_labels = plan.image_labels(name, tag, str(cfg.root), st.labels)
    with pause_guard.frozen(cfg, name, st.running and not move_opt, log):
        image_id = snapshots.commit(name, repo, image_tag, snap_labels)
        log.write(f"committed {name} as {ref}")
        if move_opt:
            sdir.mkdir(mode=0o700)
            os.rename(_opt(cfg, name), sdir / "opt")
            ctx.undo(f"move {name}'s /opt back", _undo(os.rename, sdir / "opt", _opt(cfg, name)))
            method = "moved"
        else:
            method = mounts.snapshot_copy(_opt(cfg, name), sdir / "opt", log=log)
    record = {
        "tag": tag,
        "container": name,
        "image": ref,
        "image_id": image_id,
        "method": method,
        "created": time.time(),
        "owner_uid": owners.owner_of(st.labels)[1],
        "source_image": st.image,
    }
    write_json(sdir / plan.RECORD, record, mode=0o600)
    return record


def snapshot(
    cfg: Config, name: str, tag: str | None = None, reporter: Reporter | None = None
) -> dict[str, Any]:
    """Snapshot ``name`` (root filesystem and /opt) as ``tag`` (default: the time)."""
    from devbox.state import migrate

    tag = plan.validate_tag(tag) if tag is not None else plan.default_tag(time.time())
    st = _container(cfg, name)
    _require_new(cfg, name, tag)
    layout = Layout(cfg.root)
    migrate.ensure(layout)
    made: dict[str, Any] = {}
    with (
        name_lock(layout.locks, name, "snapshotting"),
        OpLog(layout.container_log(name)) as log,
    ):

        def take(ctx: StepContext) -> None:
            made.update(_take(cfg, st, tag, log, ctx))
            ctx.note = f"/opt by {made['method']}"

        result = run_steps(
            f"snapshot {name} {tag}", [Step("commit + /opt copy", take)], log, reporter
        )
    return {**made, "seconds": result.seconds}


# ---- list ------------------------------------------------------------------------------------
def list_snapshots(cfg: Config, name: str, with_size: bool = True) -> list[dict[str, Any]]:
    from devbox.adapters.host.diskusage import disk_usage

    devbox_container.require(name, cfg)
    records = _records(cfg, name)
    sizes: dict[str, int | None] = {}
    for tag in records:
        opt = folder(cfg, name) / tag / "opt"
        sizes[tag] = disk_usage(opt) if with_size and opt.is_dir() else None
    return [row.to_dict() for row in plan.rows(records, _image_ids(cfg, name), sizes)]


# ---- restore ---------------------------------------------------------------------------------
@dataclass
class RestoreJob:
    cfg: Config
    name: str
    tag: str
    st: dc.ContainerState
    attrs: dict[str, Any]
    log: OpLog
    now: float = field(default_factory=time.time)
    kept: str = ""  # the before-restore snapshot's tag

    @property
    def aside(self) -> str:
        return plan.aside_name(self.name, self.now)


def _stop(job: RestoreJob, ctx: StepContext) -> None:
    if not job.st.running:
        ctx.skip("not running")
    dc.stop(job.name)
    ctx.undo(f"start {job.name} again", _undo(dc.start, job.name))


def _keep_current(job: RestoreJob, ctx: StepContext) -> None:
    job.kept = plan.before_restore_tag(job.now)
    stopped = dc.inspect(job.name) or job.st
    _take(job.cfg, stopped, job.kept, job.log, ctx, move_opt=True)
    ctx.note = f"kept as snapshot {job.kept}"


def _copy_opt(job: RestoreJob, ctx: StepContext) -> None:
    dest = _opt(job.cfg, job.name)
    ctx.undo(f"remove the restored {dest}", _undo(mounts.remove_tree, dest))
    method = mounts.snapshot_copy(folder(job.cfg, job.name) / job.tag / "opt", dest, log=job.log)
    ctx.note = f"/opt by {method}"


@contextmanager
def _identity_held(cfg: Config, name: str) -> Iterator[list[Any]]:
    """Hold ``name``'s LAN records still (its net lock and the owner lock of each lease),
    so the daemon neither releases a lease nor drops a record while no container, or a new
    one, carries the name: the records are ``name``'s identity (MAC, lease, IP)."""
    from contextlib import ExitStack

    from devbox.services import nic

    st = nic.store(cfg)
    with ExitStack() as stack:
        stack.enter_context(st.container_lock(name, timeout=30.0))
        records = st.for_container(name)
        for rec in records:  # the daemon lets go of a lease when its container stops
            stack.enter_context(st.owner(rec.key, timeout=30.0))
        yield records


def _rebind(cfg: Config, records: list[Any], container_id: str) -> None:
    from devbox.services import nic

    st = nic.store(cfg)

    def rebind(current: Any) -> Any:
        current.container_id = container_id
        return current

    for rec in records:  # as the record is now (the daemon may write it at the same time)
        if st.update(rec.key, rebind) is None:  # gone meanwhile: the restore's own copy
            rec.container_id = container_id
            st.save(rec)


def _swap_back(job: RestoreJob) -> None:
    """Undo of the swap, as one: the new container renamed away, the old one under its name
    again, the records back on it; only then (the records let go) the new one removed, so
    no event of the daemon ever finds the name without its container."""
    old_id = str(job.attrs.get("Id", ""))
    thrown = f"{job.aside}.undone"
    with _identity_held(job.cfg, job.name) as records:
        now = dc.inspect(job.name)
        if now is not None and now.id != old_id:
            recreate.rename(job.name, thrown)
        if dc.inspect(job.name) is None and dc.inspect(job.aside) is not None:
            recreate.rename(job.aside, job.name)
        _rebind(job.cfg, records, old_id)
    recreate.remove_only(thrown)


def _swap(job: RestoreJob, ctx: StepContext) -> None:
    """The old container set aside, the new one made from the snapshot's image under the
    same name with the same config, and the LAN records moved onto it: all while the records
    are held, so the lease is never released."""
    running = plan.running_ref(job.name)
    before = image_attrs(running)
    if before is not None:
        ctx.undo(f"tag {running} back", _undo(tag_image, str(before["Id"]), running))
    else:
        ctx.undo(f"untag {running}", _undo(snapshots.remove_image, running))
    tag_image(plan.image_ref(job.name, job.tag), running)
    with _identity_held(job.cfg, job.name) as records:
        ctx.undo(f"put the old {job.name} back", _undo(_swap_back, job))
        recreate.rename(job.name, job.aside)
        new_id = recreate.create_like(job.attrs, job.name, running)
        _rebind(job.cfg, records, new_id)
    ctx.note = f"{len(records)} LAN record(s) moved to it"


def _start(job: RestoreJob, ctx: StepContext) -> None:
    from devbox.services import daemon_control, network
    from devbox.state import migrate

    if not job.st.running:
        ctx.skip("it was not running")
    migrate.protect_store(Layout(job.cfg.root), job.log)
    ctx.undo(f"stop {job.name}", _undo(dc.stop, job.name))
    dc.start(job.name)
    daemon_control.ensure_running(job.cfg)
    att = network.wait_attached(
        job.cfg, job.name, timeout=job.cfg.number("dhcp_timeout") + 20, log=job.log
    )
    if not att.ip:
        raise OperationFailed(f"{job.name} got no LAN address")
    from devbox.adapters import ssh
    from devbox.services import host_reach
    from devbox.state.container_records import write_state

    ssh.wait_for_banner(
        att.ip,
        22,
        timeout=job.cfg.number("ssh_timeout"),
        connect=host_reach.host_connector(job.cfg, job.name),
    )
    write_state(Layout(job.cfg.root), job.name, ip=att.ip)
    ctx.note = att.ip


def _drop_old(job: RestoreJob, ctx: StepContext) -> None:
    old_image = str(job.attrs.get("Image", ""))
    recreate.remove_only(job.aside)
    if old_image and image_attrs(old_image) is not None:
        try:  # an untagged image only the old container used; kept if others need it
            if not (image_attrs(old_image) or {}).get("RepoTags"):
                snapshots.remove_image(old_image)
        except OperationFailed as err:
            job.log.write(f"kept image {old_image}: {err}")


RESTORE_STEPS = (
    ("stop", _stop),
    ("keep the current state", _keep_current),
    ("restore /opt", _copy_opt),
    ("make it again from the snapshot", _swap),
    ("start", _start),
    ("remove the old container", _drop_old),
)


def restore(cfg: Config, name: str, tag: str, reporter: Reporter | None = None) -> dict[str, Any]:
    """Put ``name`` back to snapshot ``tag``: same name, labels, MAC and IP; the state it
    replaces is kept as snapshot ``before-restore-<time>``."""
    from devbox.state import migrate

    plan.validate_tag(tag)
    st = _container(cfg, name)
    record = _records(cfg, name).get(tag)
    ref = plan.image_ref(name, tag)
    if record is None or image_attrs(ref) is None:
        raise UserError(
            f"{name} has no snapshot '{tag}'", hint=f"list them: devbox dockeruser snapshots {name}"
        )
    if plan.owner_mismatch(record, owners.owner_of(st.labels)[1]):
        raise UserError(
            f"snapshot '{tag}' was taken of another owner's container {name}",
            hint=f"remove it: devbox dockeruser snapshot-remove {name} {tag}",
        )
    if not (folder(cfg, name) / tag / "opt").is_dir():
        raise UserError(f"snapshot '{tag}' of {name} has no /opt copy", hint="remove it")
    attrs = container_attrs(name)
    if attrs is None:
        raise UserError(f"no container named '{name}'")
    layout = Layout(cfg.root)
    migrate.ensure(layout)
    with name_lock(layout.locks, name, "restoring"), OpLog(layout.container_log(name)) as log:
        job = RestoreJob(cfg, name, tag, st, attrs, log)
        steps = [Step(title, _bound(fn, job)) for title, fn in RESTORE_STEPS]
        result = run_steps(f"restore {name} {tag}", steps, log, reporter)
    from devbox.services import nic

    after = dc.inspect(name)
    nics = nic.store(cfg).for_container(name)  # devbox's records, not labels
    return {
        "name": name,
        "tag": tag,
        "kept": job.kept,
        "running": bool(after and after.running),
        "id": after.id if after else "",
        "mac": nics[0].mac if nics else "",
        "ip": (nics[0].ip or "") if nics else "",
        "seconds": result.seconds,
    }


def _bound(fn: Any, job: RestoreJob) -> Any:
    def run(ctx: StepContext) -> None:
        fn(job, ctx)

    return run


# ---- remove ----------------------------------------------------------------------------------
def remove_snapshot(cfg: Config, name: str, tag: str, foreign_ok: bool = False) -> dict[str, Any]:
    """Remove snapshot ``tag`` of ``name``: its image (a tag; the layers go when nothing uses
    them) and its /opt copy. Never the container's own /opt. One taken of an earlier
    container of that name with another owner only with ``foreign_ok`` (an admin)."""
    from devbox.state import migrate

    plan.validate_tag(tag)
    st = devbox_container.require(name, cfg)
    record = _records(cfg, name).get(tag)
    if (
        record is not None
        and not foreign_ok
        and plan.owner_mismatch(record, owners.owner_of(st.labels)[1])
    ):
        raise UserError(
            f"snapshot '{tag}' was taken of another owner's container {name}",
            hint="an admin removes it (or remove-dev-container --purge removes them all)",
        )
    sdir = folder(cfg, name) / tag
    ref = plan.image_ref(name, tag)
    has_dir = sdir.is_dir() and not sdir.is_symlink()
    if not has_dir and image_attrs(ref) is None:
        raise UserError(
            f"{name} has no snapshot '{tag}'", hint=f"list them: devbox dockeruser snapshots {name}"
        )
    layout = Layout(cfg.root)
    migrate.ensure(layout)
    with (
        name_lock(layout.locks, name, "removing a snapshot of"),
        OpLog(layout.container_log(name)) as log,
    ):
        image_removed = snapshots.remove_image(ref)
        if has_dir:
            mounts.remove_tree(sdir)
        log.write(f"removed snapshot {tag} (image {'removed' if image_removed else 'gone'})")
    return {"name": name, "tag": tag, "removed": True}


def remove_all_images(cfg: Config, name: str) -> list[str]:
    """What ``remove-dev-container --purge`` does (the /opt copies go with the container's
    folder): untag every snapshot image of ``name`` of this root. Returns the tags removed."""
    return recreate.remove_images(
        *plan.image_filters(name, str(cfg.root)), repository=plan.image_repository(name)
    )
