"""Freezing a clone source and making its sysprepped snapshot image."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devbox.adapters.docker import containers as dc
from devbox.adapters.docker import snapshots
from devbox.adapters.host import mounts
from devbox.config import Config
from devbox.errors import OperationFailed, UserError
from devbox.model import clone_plan, labels
from devbox.oplog import OpLog
from devbox.paths import Layout
from devbox.services import devbox_container, pause_guard
from devbox.services.clone_storage import hold_snapshot
from devbox.state.clone_records import (
    SNAPSHOT_FILE,
    snapshot_dir,
    snapshot_opt,
    write_record,
)
from devbox.steps import JobSteps, Reporter, StepContext, bind, run_steps


def undo_call(fn: Callable[..., object], *args: Any) -> Callable[[], None]:
    """An undo that calls ``fn(*args)`` and drops its result."""

    def run() -> None:
        fn(*args)

    return run


@dataclass
class Frozen:
    snap_id: str
    image: str
    method: str
    seconds: float
    source_labels: dict[str, str]
    sysprep: str = "image"  # "layer": each clone's own layer; "image": a shared derived layer
    removals: list[str] = field(default_factory=list)  # what each clone deletes ("layer")
    image_labels: dict[str, str] = field(default_factory=dict)  # the snapshot image's labels
    hold: int | None = None  # the fd of its in-use lock (clone_storage.hold_snapshot), if held

    def release(self) -> None:
        """Let go of the in-use lock: its clones are made (their records now name it)."""
        if self.hold is not None:
            os.close(self.hold)
            self.hold = None


@dataclass(frozen=True)
class Sysprep:
    method: str  # "layer" or "image"
    removals: list[str]


def sysprep_snapshot(
    raw: str, image: str, snap_labels: dict[str, str], method: str | None = None
) -> Sysprep:
    """Make snapshot image ``image`` from the plain commit ``raw`` and say how clones drop what
    they must not inherit (:data:`devbox.model.clone_plan.SYSPREP`).

    ``"layer"`` (overlay2, the default here): ``image`` is ``raw`` re-tagged, and the paths to
    delete are listed once from its layers; each clone deletes them in its own layer before
    first boot, with its own files (:func:`devbox.adapters.docker.containers.seed_files`).
    ``"image"`` (any other storage driver, or asked for): a derived image whose one layer runs
    the sysprep ``find`` (a build: a container start and a commit, about 2 s).
    """
    from devbox.adapters.docker import layers
    from devbox.adapters.docker.engine import image_attrs, tag_image

    dirs = None
    if method in (None, "layer"):
        attrs = image_attrs(raw) or {}
        dirs = layers.image_layer_dirs(attrs)
        if dirs is None and method == "layer":
            raise OperationFailed(
                "the engine's storage is not overlay2 owned by root: "
                "clones cannot be sysprepped in their own layers"
            )
    removals: list[str] = []
    if dirs is not None:
        removals = clone_plan.sysprep_removals(layers.merged_paths(dirs, clone_plan.walk_roots()))
        own = [
            *removals,
            *clone_plan.clone_files("x", {}),  # what each clone will write
            *(clone_plan.host_key_path(kind) for kind in clone_plan.HOST_KEY_TYPES),
        ]
        if not layers.parents_are_dirs(dirs, own):  # e.g. /etc/ssh a symlink: the engine's way
            if method == "layer":
                raise OperationFailed(
                    "a directory on the way to a sysprep path is not a plain directory in the image"
                )
            dirs = None
    if dirs is not None:
        tag_image(raw, image)
        snapshots.remove_image(raw)  # the tag only
        return Sysprep("layer", removals)
    snapshots.build_derived(clone_plan.sysprep_dockerfile(raw), {}, image, snap_labels)
    snapshots.remove_image(raw)  # the tag only: its layers live on under the derived image
    return Sysprep("image", [])


def existing_names(layout: Layout) -> set[str]:
    """Every name a new container here must not take: devbox's containers (one list call,
    no inspect of each: 2.4 s with 93 of them on the host, 0.1 s listed), its state dirs and
    legacy dirs."""
    from devbox.state import migrate

    names = {s.name for s in dc.list_summaries(labels.ROLE)}
    if layout.containers.is_dir():
        names |= {p.name for p in layout.containers.iterdir()}
    return names | set(migrate.legacy_names(layout))


def clone_source(name: str, cfg: Config | None = None) -> dc.ContainerState:
    return devbox_container.require(
        name,
        cfg,
        what="source container name",
        not_ours="container '{name}' was not made by devbox; devbox clones only its own",
    )


@dataclass
class FreezeJob:
    """What the steps of one freeze share."""

    cfg: Config
    source: str
    st: dc.ContainerState
    src_opt: Path  # devbox's own path, not a label
    snap_id: str
    snap_labels: dict[str, str]
    log: OpLog
    pool: ThreadPoolExecutor
    prepping: list[Future[Sysprep]] = field(default_factory=list)  # the sysprep, once started
    method: str = ""  # how /opt was snapshot: "reflink" or "copy"

    @property
    def layout(self) -> Layout:
        return Layout(self.cfg.root)

    @property
    def raw(self) -> str:
        return clone_plan.snapshot_raw_image(self.snap_id)

    @property
    def image(self) -> str:
        return clone_plan.snapshot_image(self.snap_id)

    @property
    def sdir(self) -> Path:
        return snapshot_dir(self.layout, self.snap_id)


def commit_and_copy(job: FreezeJob, ctx: StepContext) -> None:
    repo, _, tag = job.raw.rpartition(":")
    ctx.undo(f"remove {job.sdir}", undo_call(mounts.remove_tree, job.sdir))
    ctx.undo(f"remove image {job.raw}", undo_call(snapshots.remove_image, job.raw))
    ctx.undo(f"remove image {job.image}", undo_call(_remove_built, job.prepping, job.image))
    t0 = time.monotonic()
    began: list[bool] = []
    for attempt in range(1, PAUSE_TRIES + 1):
        try:
            # under the source's freeze lock, with a marker: a freeze killed (-9) while the
            # source is paused is undone by the next command or the daemon (pause_guard)
            with pause_guard.frozen(job.cfg, job.source, job.st.running):
                began.append(True)
                t0 = time.monotonic()
                _commit_and_copy_paused(job, repo, tag)
            break
        except OperationFailed as err:
            # the kernel's freezer gives up while a task of SRC sleeps in I/O (runc: "unable
            # to freeze", SRC left running): nothing was made yet, so try again (bounded)
            if began or attempt == PAUSE_TRIES or "unable to freeze" not in str(err):
                raise
            job.log.write(f"{job.source} could not be paused (try {attempt}): {err}")
            time.sleep(PAUSE_RETRY_WAIT * attempt)
    ctx.note = f"{job.source} paused {time.monotonic() - t0:.2f}s; /opt by {job.method}"


PAUSE_TRIES = 5
PAUSE_RETRY_WAIT = 0.5  # seconds before the 2nd try, 1.0 before the 3rd, ... (5 s in all)


def _commit_and_copy_paused(job: FreezeJob, repo: str, tag: str) -> None:
    snapshots.commit(job.source, repo, tag, job.snap_labels)
    job.log.write(f"committed {job.source} as {job.raw}")
    # the sysprep is worked out while /opt is copied
    job.prepping.append(job.pool.submit(sysprep_snapshot, job.raw, job.image, job.snap_labels))
    job.method = mounts.snapshot_copy(
        job.src_opt, snapshot_opt(job.layout, job.snap_id), log=job.log
    )
    job.log.write(f"/opt snapshot made by {job.method}")


def record_snapshot(job: FreezeJob, ctx: StepContext) -> None:
    prep = job.prepping[0].result()
    write_record(
        job.sdir / SNAPSHOT_FILE,
        {
            "id": job.snap_id,
            "source": job.source,
            "image": job.image,
            "method": job.method,
            "created": time.time(),
            "source_image": job.st.image,
            "sysprep": prep.method,
            "removals": prep.removals,
        },
    )
    ctx.note = (
        f"{len(prep.removals)} path(s) each clone deletes in its own layer"
        if prep.method == "layer"
        else f"derived image {job.image}"
    )


# a clone's freeze, step by step
STEPS: JobSteps[FreezeJob] = [
    ("commit + /opt snapshot", commit_and_copy),
    ("sysprep", record_snapshot),
]


def freeze(cfg: Config, source: str, log: OpLog, reporter: Reporter | None = None) -> Frozen:
    """Commit SRC's root filesystem and snapshot its /opt, SRC paused for just that long."""
    from devbox.adapters.docker.engine import image_labels
    from devbox.state import migrate

    st = clone_source(source, cfg)
    src_opt = migrate.record_dir(Layout(cfg.root), source) / "opt"
    if not src_opt.is_dir():
        raise UserError(f"{source} has no /opt on the host ({src_opt})")
    snap_id = clone_plan.snapshot_id(source, time.time(), str(id(log)))
    hold = hold_snapshot(Layout(cfg.root), snap_id)
    snap_labels = {labels.ROLE: "snapshot", labels.SNAPSHOT: snap_id, labels.CLONE_OF: source}
    test_run = st.labels.get(labels.TEST_RUN)
    if test_run:
        snap_labels[labels.TEST_RUN] = test_run
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sysprep")
    job = FreezeJob(cfg, source, st, src_opt, snap_id, snap_labels, log, pool)
    try:
        try:
            result = run_steps(f"freeze {source}", bind(job, STEPS), log, reporter)
        finally:
            pool.shutdown(wait=True)
        prep = job.prepping[0].result()
    except BaseException:
        if hold is not None:
            os.close(hold)
        raise
    return Frozen(
        snap_id,
        job.image,
        job.method,
        result.seconds,
        dict(st.labels),
        prep.method,
        prep.removals,
        dict(image_labels(job.image) or {}),
        hold,
    )


def frozen_from_record(cfg: Config, source: str, snap_id: str) -> Frozen:
    """The freeze of ``source`` that snapshot ``snap_id`` recorded (``clone --hosts``: made
    once by the export, for this host's share too); refused (exit 2) unless it is one of
    ``source``'s here with its image."""
    from devbox.adapters.docker.engine import image_labels
    from devbox.state.clone_records import read_record

    clone_plan.check_snapshot_id(snap_id)
    layout = Layout(cfg.root)
    record = read_record(snapshot_dir(layout, snap_id) / SNAPSHOT_FILE)
    found = image_labels(str(record.get("image") or "")) if record else None
    why = (
        "no record of it"
        if not record
        else f"it is {record.get('source')}'s"
        if record.get("source") != source
        else f"its image {record.get('image')} is gone"
        if found is None
        else ""
    )
    if why or found is None:
        raise UserError(f"no snapshot {snap_id} of {source} on this host ({why})")
    st = clone_source(source, cfg)
    return Frozen(
        snap_id,
        str(record["image"]),
        str(record.get("method") or ""),
        0.0,
        dict(st.labels),
        str(record.get("sysprep") or "image"),
        [str(r) for r in record.get("removals") or []],
        dict(found),
    )


def sysprep_received(snap_id: str, snap_labels: dict[str, str]) -> Sysprep:
    """A snapshot image another host sent (loaded as its snapshot image), sysprepped here as
    a freeze does it: what each clone deletes is listed from *this* engine's layers (never
    taken from the sender), or a derived image when this storage driver needs one."""
    from devbox.adapters.docker.engine import tag_image

    image = clone_plan.snapshot_image(snap_id)
    raw = clone_plan.snapshot_raw_image(snap_id)
    tag_image(image, raw)
    snapshots.remove_image(image)  # the tag only: sysprep_snapshot makes it again
    return sysprep_snapshot(raw, image, snap_labels)


def _remove_built(building: list[Future[Sysprep]], image: str) -> None:
    """Undo of the sysprep: wait for it to end (bounded), then remove the snapshot image."""
    for future in building:
        try:
            future.result(timeout=300)
        except Exception:  # noqa: BLE001 - failed builds leave nothing to remove but the tag
            pass
    snapshots.remove_image(image)
