"""A clone's storage: its overlay /opt mounted before it starts, released and collected."""

from __future__ import annotations

from collections.abc import Iterable

from devbox.adapters.docker import containers as dc
from devbox.adapters.docker import snapshots
from devbox.adapters.host import mounts
from devbox.config import Config
from devbox.model import clone_plan, container_plan, labels
from devbox.oplog import NULL_LOG, OpLog
from devbox.paths import Layout
from devbox.state.clone_records import (
    CLONE_FILE,
    ClonePaths,
    clone_records,
    read_record,
    snapshot_dir,
)


def _snapshot_lock(snap_id: str) -> tuple[str, str]:
    # a name no container can have (a space): its freeze lock is the source's, by its name
    return "freeze", f"snapshot {snap_id}"


def hold_snapshot(layout: Layout, snap_id: str) -> int | None:
    """Take snapshot ``snap_id``'s in-use lock (the fd; close it to let go): from its freeze
    until its clones are made, when no clone record names it yet, :func:`gc_snapshots` of
    another job in this root (a remove --clones-of) leaves it alone."""
    from devbox import locks

    return locks.try_hold(locks.lock_path(layout.locks, *_snapshot_lock(snap_id)))


def release_storage(cfg: Config, name: str, purge: bool, log: OpLog = NULL_LOG) -> bool:
    """After clone ``name``'s container is gone: unmount its /opt overlay; with ``purge`` also
    remove its upper layer and directory, then snapshots nothing uses any more. Returns whether
    ``name`` was a clone with storage here."""
    layout = Layout(cfg.root)
    paths_dir = layout.container_dir(name)
    record = read_record(paths_dir / CLONE_FILE)
    if not record.get("snapshot"):
        return False
    paths = ClonePaths(layout, name, str(record["snapshot"]))
    mounts.unmount(paths.overlay().merged, log)
    if purge:
        mounts.remove_tree(paths.dir)
        gc_snapshots(cfg)
    return True


def gc_snapshots(cfg: Config, only: Iterable[str] | None = None) -> list[str]:
    """Remove this root's snapshots (image + /opt copy) no container and no clone directory
    uses: those in its snapshots directory, and images labelled with this root."""
    from devbox import locks

    layout = Layout(cfg.root)
    wanted = set(only) if only is not None else None
    used = {str(r.get("snapshot")) for r in clone_records(layout, legacy=True).values()}
    used |= _exported(layout)
    removed = []
    candidates: set[str] = set()
    if layout.snapshots.is_dir():
        candidates |= {p.name for p in layout.snapshots.iterdir() if p.is_dir()}
    for img in snapshots.images_labelled(f"{labels.ROLE}=snapshot"):
        lbls = img.get("Labels") or {}
        snap = lbls.get(labels.SNAPSHOT)
        # the engine holds every root's snapshots: only this root's are ours to collect (a
        # snapshot image inherits SRC's devbox.root). Another root's fresh one, whose clones
        # are not made yet, is used by nothing *here*: it was removed under that clone.
        if snap and container_plan.same_root(str(lbls.get(labels.ROOT) or ""), cfg.root):
            candidates.add(str(snap))
    for snap in sorted(candidates):
        if wanted is not None and snap not in wanted:
            continue
        if snap in used or locks.is_held(layout.locks, *_snapshot_lock(snap)):
            continue  # a clone record names it, or a clone run holds it (frozen, clones to come)
        if snapshots.containers_using(f"{labels.SNAPSHOT}={snap}"):
            continue
        snapshots.remove_image(clone_plan.snapshot_image(snap))
        snapshots.remove_image(clone_plan.snapshot_raw_image(snap))
        mounts.remove_tree(snapshot_dir(layout, snap))
        removed.append(snap)
    return removed


def _exported(layout: Layout) -> set[str]:
    """Snapshots a ``clone --hosts`` export still holds (its spool names them): that run's
    own clones here are made from them after the export (kept until it is dropped)."""
    from devbox.jsonfile import CorruptRecord, read_json

    out: set[str] = set()
    if not layout.moves.is_dir():
        return out
    for record in layout.moves.glob("*/record.json"):
        try:
            data = read_json(record, missing={})
        except CorruptRecord:
            continue
        if data.get("kind") == "export" and data.get("snapshot"):
            out.add(str(data["snapshot"]))
    return out


def restore_mounts(cfg: Config, names: Iterable[str] | None = None) -> list[str]:
    """Mount the /opt overlay of every clone (or of ``names``) that is not mounted, e.g. after a
    host reboot. Idempotent; returns the clones mounted now. Call it before starting a clone."""
    layout = Layout(cfg.root)
    wanted = set(names) if names is not None else None
    done = []
    for name, record in sorted(clone_records(layout).items()):
        if wanted is not None and name not in wanted:
            continue
        spec = ClonePaths(layout, name, str(record["snapshot"])).overlay()
        if mounts.mount_overlay(spec):
            done.append(name)
    return done


def ensure_mounted_before_start(cfg: Config, name: str, running: bool) -> bool:
    """For start-dev-container: mount clone ``name``'s overlay if needed. A clone that dockerd
    already started (restart policy, at boot) before its /opt was mounted sees an empty /opt:
    restart it so it gets the overlay. Returns whether anything was mounted."""
    mounted = restore_mounts(cfg, [name])
    if mounted and running:
        dc.stop(name)
        dc.start(name)
    return bool(mounted)


def restore_after_reboot(cfg: Config, log: OpLog) -> None:
    """The daemon's start: after a host reboot clones' /opt overlays are gone: mount them
    again, and restart a clone dockerd already started (restart policy) so it sees its /opt."""
    from devbox.adapters.docker import net

    for name in restore_mounts(cfg):
        facts = net.inspect(name)
        log.write(f"{name}: mounted its /opt overlay again")
        if facts is not None and facts.running:
            dc.stop(name)
            dc.start(name)
            log.write(f"{name}: restarted so it sees its /opt")
