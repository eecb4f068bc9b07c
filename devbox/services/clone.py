"""``devbox dockeruser clone``: freeze a container once, then make N unique clones in parallel.

Freeze (SRC paused briefly, so its root filesystem and /opt are one consistent moment):
``docker commit`` of SRC into a local image, and one snapshot of its /opt under
``<root>/snapshots/<id>/opt`` (reflink where the filesystem shares blocks, else one plain copy).
What no clone may inherit (the sysprep plan in :mod:`devbox.model.clone_plan`) is listed once from
the commit's layers; each clone deletes it in its own container layer before first boot
(overlay2; with another storage driver a derived image layer deletes it for all, see
:func:`sysprep_snapshot`).

Each clone, through the same step machinery as make-dev-container (logged, undone on failure):
its /opt is an overlay (snapshot as lower, ``<root>/<clone>/opt-upper`` as upper) mounted at
``Layout.opt_dir(clone)``; its container is created from the snapshot image, loses what it must
not inherit and gets its own hostname files and fresh SSH host keys *before* it first boots;
then its own MAC (derived from its name), its own DHCP lease, an ARP clash check, and sshd
proving the host key devbox made. A clone that fails is rolled back; the others stay.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from devbox.adapters.docker import containers as dc
from devbox.adapters.host import procfs
from devbox.config import Config
from devbox.errors import DevboxError, UserError
from devbox.locks import name_lock
from devbox.model import capacity, clone_plan, labels
from devbox.model import limits as limits_mod
from devbox.model.clone_plan import CloneResult, CloneRun
from devbox.model.limits import Limits
from devbox.model.naming import validate_name
from devbox.oplog import OpLog
from devbox.paths import Layout
from devbox.services.clone_snapshot import (
    Frozen,
    clone_source,
    existing_names,
    freeze,
    frozen_from_record,
)
from devbox.services.clone_steps import (
    CloneJob,
    arp_started,
    attach,
    boot,
    create,
    mount_opt,
    ssh_config,
    wait_ssh,
)
from devbox.services.clone_storage import gc_snapshots, release_storage
from devbox.state.clone_records import clone_records, clones_of, snapshot_ids
from devbox.steps import Reporter, Step, StepContext, run_steps

# ---------------------------------------------------------------- paths


# ---------------------------------------------------------------- freeze


# ---------------------------------------------------------------- one clone

# one clone, step by step (the functions are in devbox.services.clone_steps); the names are
# what the log, the clone board and the fault suite's kill points see
STEPS: list[tuple[str, Callable[[CloneJob, StepContext], None]]] = [
    ("/opt overlay", mount_opt),
    ("create + sysprep", create),
    ("boot", boot),
    ("attach LAN (DHCP)", attach),
    ("ARP check", arp_started),  # its verdict is taken by "wait for sshd"
    ("wait for sshd", wait_ssh),
    ("SSH config entry", ssh_config),
]


def steps_for(job: CloneJob) -> list[Step]:
    """:data:`STEPS` bound to ``job``."""
    return [Step(name, functools.partial(run, job)) for name, run in STEPS]


def _cancellable(steps: list[Step], cancel: threading.Event | None) -> list[Step]:
    """Steps that end (as an interrupt, so everything done is undone) once ``cancel`` is set:
    Ctrl-C reaches only the main thread, the clones run in workers."""
    if cancel is None:
        return steps

    def wrap(step: Step) -> Step:
        def run(ctx: StepContext) -> None:
            if cancel.is_set():
                raise KeyboardInterrupt
            step.run(ctx)

        return Step(step.name, run)

    return [wrap(s) for s in steps]


def make_one(
    cfg: Config,
    name: str,
    source: str,
    frozen: Frozen,
    reporter: Reporter | None = None,
    cancel: threading.Event | None = None,
    lim: Limits | None = None,
    owner_labels: dict[str, str] | None = None,
    login_keys: list[str] | None = None,
) -> CloneResult:
    """Make clone ``name`` of a frozen ``source``; on failure it is rolled back (never raises
    for a DevboxError: the result says what went wrong)."""
    from devbox.state.container_records import write_state

    layout = Layout(cfg.root)
    log_path = layout.container_log(name)
    t0 = time.monotonic()
    try:
        validate_name(name, "clone name")
        with name_lock(layout.locks, name, "cloning"), OpLog(log_path) as log:
            if dc.inspect(name) is not None:
                raise UserError(f"a container named '{name}' already exists")
            job = CloneJob(cfg, name, source, frozen, log, lim, owner_labels or {})
            job.login_keys = login_keys
            run_steps(
                f"clone {source} -> {name}",
                _cancellable(steps_for(job), cancel),
                log,
                reporter,
                cleanup_hint=f"devbox dockeruser remove-dev-container {name}",
            )
            write_state(
                layout,
                name,
                ready=True,
                kind="clone",
                branch=frozen.source_labels.get(labels.BRANCH, ""),
                image=frozen.image,
                ip=job.ip,
                mac=job.mac,
                source=source,
                snapshot=frozen.snap_id,
                made=time.time(),
            )
    except DevboxError as err:
        return CloneResult(
            name,
            False,
            seconds=time.monotonic() - t0,
            error=str(err),
            hint=err.hint or "",
            log=str(log_path),
        )
    return CloneResult(
        name,
        True,
        ip=job.ip,
        mac=job.mac,
        seconds=time.monotonic() - t0,
        log=str(log_path),
        reach=job.reach,
    )


def make_many(
    cfg: Config,
    names: list[str],
    source: str,
    frozen: Frozen,
    workers: int,
    reporter_for: Callable[[str], Reporter] | None = None,
    lim: Limits | None = None,
    owner_labels: dict[str, str] | None = None,
    login_keys: list[str] | None = None,
) -> tuple[list[CloneResult], bool]:
    """Clones ``names`` of a frozen ``source``, ``workers`` at a time (each rolled back on its
    own failure): their results, and whether Ctrl-C stopped the ones still under way."""
    results: list[CloneResult] = []
    cancel = threading.Event()
    interrupted = False
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="clone") as pool:
        futures = [
            pool.submit(
                make_one,
                cfg,
                name,
                source,
                frozen,
                reporter_for(name) if reporter_for else None,
                cancel,
                lim,
                owner_labels,
                login_keys,
            )
            for name in names
        ]
        for future in futures:
            while True:
                try:
                    results.append(future.result())
                    break
                except KeyboardInterrupt:
                    # stop the clones still in progress (each rolls back), keep finished ones
                    interrupted = True
                    cancel.set()
    with OpLog(Layout(cfg.root).container_log(source)) as log:
        log.write(
            f"{sum(r.ok for r in results)} of {len(names)} clone(s) made, {workers} at a time"
        )
    return results, interrupted


# ---------------------------------------------------------------- the command


def clone(
    cfg: Config,
    source: str,
    count: int,
    prefix: str | None = None,
    jobs: int | None = None,
    reporter_for: Callable[[str], Reporter] | None = None,
    requested: Limits | None = None,
    owner_labels: dict[str, str] | None = None,
    admit: Callable[[list[Limits]], None] | None = None,
    login_keys: list[str] | None = None,
    names: list[str] | None = None,
    snapshot: str | None = None,
) -> CloneRun:
    """Freeze ``source`` once and make ``count`` clones, ``jobs`` at a time.

    ``reporter_for(name)`` gives the progress reporter of one clone (or of "freeze");
    ``owner_labels`` say whose the clones are; ``admit`` gets their limits before anything
    is made and may refuse them (the service's per-user quota); ``login_keys``, when given,
    replace the source's ``authorized_keys`` in every clone (another person's clones).
    ``clone --hosts`` (this host's share): ``names`` chosen by the client over every host's
    names (each must be free here), and ``snapshot``, the freeze of SRC its export made
    (:mod:`devbox.services.clone_export`), used instead of freezing SRC again.
    """
    layout = Layout(cfg.root)
    t0 = time.monotonic()
    src_state = clone_source(source, cfg)
    # the source's limits (devbox set them at make) under what the caller asks for; checked
    # against the host before anything is made
    lim = limits_mod.resolve(
        limits_mod.settings_of(cfg),
        procfs.host_size(),
        limits_mod.from_labels(src_state.labels),
        requested or Limits(),
    )
    if names is None:
        names = clone_plan.clone_names(source, count, existing_names(layout), prefix)
    else:
        count = len(names)
        clone_plan.require_free_names(names, existing_names(layout))
    if admit is not None:
        admit([lim] * len(names))
    workers = clone_plan.check_jobs(jobs, count, os.cpu_count() or 1)
    # a clone the kernel would not let boot is refused now, before anything is made
    capacity.require_room(procfs.inotify_room(), count, f"cloning {source} {count} time(s)")
    with OpLog(layout.container_log(source)) as log:
        log.write(f"clone {source} x{count} ({', '.join(names)}), {workers} at a time")
        from devbox.state import migrate

        migrate.protect_store(layout, log)
        if snapshot is not None:
            frozen = frozen_from_record(cfg, source, snapshot)
            log.write(f"from snapshot {snapshot} (frozen once for every host of the run)")
        else:
            frozen = freeze(cfg, source, log, reporter_for("freeze") if reporter_for else None)
    try:
        results, interrupted = make_many(
            cfg, names, source, frozen, workers, reporter_for, lim, owner_labels, login_keys
        )
    finally:
        frozen.release()  # the clones' records name the snapshot now
    if not any(r.ok for r in results):
        # nothing uses the snapshot: do not leave it behind. The engine may be what made
        # every clone fail (dockerd restarting): the per-clone result still stands, and the
        # next remove-dev-container --clones-of collects the snapshot
        try:
            gc_snapshots(cfg, only=[frozen.snap_id])
        except DevboxError as err:
            with OpLog(layout.container_log(source)) as log:
                log.write(f"snapshot {frozen.snap_id} left for the next clean-up: {err}")
    if interrupted:
        from devbox.errors import Interrupted

        kept = [r.name for r in results if r.ok]
        raise Interrupted(
            f"clone of {source} interrupted; unfinished clones rolled back",
            hint=("kept the finished ones: " + ", ".join(kept)) if kept else None,
        )
    return CloneRun(
        source=source,
        snapshot=frozen.snap_id,
        image=frozen.image,
        snapshot_method=frozen.method,
        freeze_seconds=frozen.seconds,
        seconds=time.monotonic() - t0,
        clones=results,
    )


# ---------------------------------------------------------------- removal and reboot


@dataclass
class RemoveClonesResult:
    source: str
    removed: list[str]
    snapshots_removed: list[str]
    failed: dict[str, str]


def removal_workers(count: int, cpus: int) -> int:
    """How many clones are removed at once: four per CPU, at most 8 and at most ``count``
    (each removal mostly waits on dockerd's kill and clean-up of the container, ~0.4 s of
    its ~0.55, then the kernel's unmounts; 50 on 2 CPUs: 7.0-7.1 s with 4 at once, 5.6-6.8 s
    with 8)."""
    return max(1, min(count, 4 * max(1, cpus), 8))


def remove_clones(cfg: Config, source: str) -> RemoveClonesResult:
    """Remove every clone of ``source``: container, lease, interface, SSH entry, overlay mount,
    upper layer; then the snapshot(s) no longer used.

    The clones go in parallel (:func:`removal_workers` at a time), each under its own name
    lock as ``remove-dev-container`` takes it; one failing does not keep the others. What
    they share is done once, after them: the SSH config entries (one file, rewritten without
    a lock of its own) and the collection of the snapshots nothing uses any more. Ctrl-C
    lets the removals under way finish, starts no new one, and says which are left."""
    from devbox.adapters import ssh
    from devbox.adapters.host import mounts, sshconfig
    from devbox.services import container_lifecycle
    from devbox.state.container_records import home_dir, known_hosts

    names = clones_of(source)
    layout = Layout(cfg.root)
    names += [
        n
        for n, r in clone_records(layout).items()
        if r.get("source") == source and n not in names and dc.inspect(n) is None
    ]
    before = set(snapshot_ids(layout))
    write_config = cfg.flag("ssh.write_config")
    each_cfg = (
        cfg.with_overrides({"ssh.write_config": False}, source="remove --clones-of")
        if write_config
        else cfg
    )
    cancel = threading.Event()

    seconds: dict[str, float] = {}
    forget: list[str] = []  # known_hosts names of the removed clones: one rewrite for all

    def remove_one(name: str) -> str | None:
        """None when ``name`` is gone, else why not."""
        if cancel.is_set():
            return "not removed: interrupted"
        t0 = time.monotonic()
        try:
            # purge=False and the tree removed here: a purge would collect the snapshots
            # after every clone, N times over; that is done once below
            st = dc.inspect(name)
            if st is not None or layout.state_file(name).exists():
                container_lifecycle.remove(
                    each_cfg, name, purge=False, inspected=st, forget_later=forget
                )
            else:
                release_storage(each_cfg, name, purge=False)
            target = layout.container_dir(name)
            if target.is_dir() and not target.is_symlink():
                mounts.remove_tree(target)
        except (DevboxError, OSError) as err:
            return str(err)
        finally:
            seconds[name] = time.monotonic() - t0
        return None

    t_all = time.monotonic()
    outcomes: dict[str, str | None] = {}
    interrupted = False
    workers = removal_workers(len(names), os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="remove") as pool:
        futures = {name: pool.submit(remove_one, name) for name in names}
        for name, future in futures.items():
            while True:
                try:
                    outcomes[name] = future.result()
                    break
                except KeyboardInterrupt:
                    interrupted = True
                    cancel.set()
    removed = [n for n in names if outcomes[n] is None]
    failed = {n: str(e) for n, e in outcomes.items() if e is not None}
    if forget:  # a crash before this leaves entries the next record of those names replaces
        ssh.forget_host(known_hosts(layout), forget)
    if write_config:
        for name in removed:
            sshconfig.remove_entry(home_dir(cfg), name)
    gc_snapshots(cfg)
    snaps = sorted(before - set(snapshot_ids(layout)))
    if names:
        each = sorted(seconds.values()) or [0.0]
        with OpLog(layout.container_log(source)) as log:
            log.write(
                f"removed {len(removed)} of {len(names)} clone(s) in "
                f"{time.monotonic() - t_all:.2f}s, {workers} at a time; each "
                f"{each[0]:.2f}-{each[-1]:.2f}s (median {each[len(each) // 2]:.2f}s)"
                + (f"; failed: {', '.join(sorted(failed))}" if failed else "")
            )
    if interrupted:
        from devbox.errors import Interrupted

        raise Interrupted(
            f"remove of the clones of {source} interrupted ({len(removed)} removed)",
            hint="left: " + ", ".join(sorted(failed)) if failed else None,
        )
    return RemoveClonesResult(source, removed, snaps, failed)
