"""``devbox dockeruser clone``: freeze a container once, then make N unique clones in parallel.

Freeze (SRC paused briefly, so its root filesystem and /opt are one consistent moment):
``docker commit`` of SRC into a local image, and one snapshot of its /opt under
``<root>/snapshots/<id>/opt`` (reflink where the filesystem shares blocks, else one plain copy).
What no clone may inherit (the sysprep plan in :mod:`devbox.clone_plan`) is listed once from
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

import errno
import os
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from devbox import capacity, clone_plan, container_plan, hostkeys, jsonfile, labels
from devbox import limits as limits_mod
from devbox.adapters import docker_containers as dc
from devbox.adapters import mounts, procfs, snapshots, ssh
from devbox.config import Config
from devbox.container_plan import MakeOptions
from devbox.errors import DevboxError, OperationFailed, UserError
from devbox.limits import Limits
from devbox.locks import name_lock
from devbox.naming import validate_name
from devbox.oplog import NULL_LOG, OpLog
from devbox.paths import Layout
from devbox.services import containers, pause_guard
from devbox.steps import Reporter, Step, StepContext, run_steps

CLONE_FILE = "clone.json"
SNAPSHOT_FILE = "snapshot.json"
_FILES_LOCK = threading.Lock()  # known_hosts and ~/.ssh/config.d/devbox are shared files


@dataclass
class CloneResult:
    name: str
    ok: bool
    ip: str = ""
    mac: str = ""
    seconds: float = 0.0
    error: str = ""
    hint: str = ""
    log: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CloneRun:
    source: str
    snapshot: str
    image: str
    snapshot_method: str
    freeze_seconds: float
    seconds: float
    clones: list[CloneResult] = field(default_factory=list)

    @property
    def failed(self) -> list[CloneResult]:
        return [c for c in self.clones if not c.ok]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["clones"] = [c.to_dict() for c in self.clones]
        return data


# ---------------------------------------------------------------- paths


@dataclass(frozen=True)
class ClonePaths:
    layout: Layout
    name: str
    snapshot: str

    @property
    def dir(self) -> Path:
        return self.layout.container_dir(self.name)

    @property
    def record(self) -> Path:
        return self.dir / CLONE_FILE

    def overlay(self) -> mounts.OverlaySpec:
        return mounts.OverlaySpec(lower=snapshot_opt(self.layout, self.snapshot),
                                  upper=self.dir / "opt-upper", work=self.dir / "opt-work",
                                  merged=self.layout.opt_dir(self.name))


def snapshot_dir(layout: Layout, snap_id: str) -> Path:
    return layout.snapshots / snap_id


def snapshot_opt(layout: Layout, snap_id: str) -> Path:
    return snapshot_dir(layout, snap_id) / "opt"


def _call(fn: Callable[..., object], *args: Any) -> Callable[[], None]:
    """An undo that calls ``fn(*args)`` and drops its result."""

    def run() -> None:
        fn(*args)

    return run


def _read_json(path: Path) -> dict[str, Any]:
    """A clone or snapshot record; {} if there is none. A corrupt one raises CorruptRecord
    (never a silent {}: gc_snapshots would take a snapshot still in use for unused)."""
    return jsonfile.read_json(path, missing={})


def _write_json(path: Path, data: dict[str, Any]) -> None:
    jsonfile.write_json(path, data)  # atomic and durable: devbox.jsonfile


def clone_records(layout: Layout, legacy: bool = False) -> dict[str, dict[str, Any]]:
    """``{clone name: its clone.json}`` for every clone directory under ``<root>/containers``
    (with ``legacy``, also those a root made before that subtree still holds for clones that
    exist: :mod:`devbox.migrate`; their overlays are not remounted here)."""
    from devbox import migrate

    out: dict[str, dict[str, Any]] = {}
    found = list(layout.containers.glob(f"*/{CLONE_FILE}")) if layout.containers.is_dir() else []
    if legacy:
        found += [layout.legacy_container_dir(n) / CLONE_FILE for n in migrate.legacy_names(layout)]
    for record in found:
        data = _read_json(record)
        if data.get("snapshot"):
            out.setdefault(record.parent.name, data)
    return out


# ---------------------------------------------------------------- freeze


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


@dataclass(frozen=True)
class Sysprep:
    method: str  # "layer" or "image"
    removals: list[str]


def sysprep_snapshot(raw: str, image: str, snap_labels: dict[str, str],
                     method: str | None = None) -> Sysprep:
    """Make snapshot image ``image`` from the plain commit ``raw`` and say how clones drop what
    they must not inherit (:data:`devbox.clone_plan.SYSPREP`).

    ``"layer"`` (overlay2, the default here): ``image`` is ``raw`` re-tagged, and the paths to
    delete are listed once from its layers; each clone deletes them in its own layer before
    first boot, with its own files (:func:`devbox.adapters.docker_containers.seed_files`).
    ``"image"`` (any other storage driver, or asked for): a derived image whose one layer runs
    the sysprep ``find`` (a build: a container start and a commit, about 2 s).
    """
    from devbox.adapters import layers
    from devbox.adapters.docker_engine import image_attrs, tag_image

    dirs = None
    if method in (None, "layer"):
        attrs = image_attrs(raw) or {}
        dirs = layers.image_layer_dirs(attrs)
        if dirs is None and method == "layer":
            raise OperationFailed("the engine's storage is not overlay2 owned by root: "
                                  "clones cannot be sysprepped in their own layers")
    removals: list[str] = []
    if dirs is not None:
        removals = clone_plan.sysprep_removals(
            layers.merged_paths(dirs, clone_plan.walk_roots()))
        own = [*removals, *clone_plan.clone_files("x", {}),  # what each clone will write
               *(clone_plan.host_key_path(kind) for kind in clone_plan.HOST_KEY_TYPES)]
        if not layers.parents_are_dirs(dirs, own):  # e.g. /etc/ssh a symlink: the engine's way
            if method == "layer":
                raise OperationFailed("a directory on the way to a sysprep path is not a plain "
                                      "directory in the image")
            dirs = None
    if dirs is not None:
        tag_image(raw, image)
        snapshots.remove_image(raw)  # the tag only
        return Sysprep("layer", removals)
    snapshots.build_derived(clone_plan.sysprep_dockerfile(raw), {}, image, snap_labels)
    snapshots.remove_image(raw)  # the tag only: its layers live on under the derived image
    return Sysprep("image", [])


def _existing_names(layout: Layout) -> set[str]:
    from devbox import migrate

    names = {st.name for st in dc.list_labeled(labels.ROLE)}
    if layout.containers.is_dir():
        names |= {p.name for p in layout.containers.iterdir()}
    return names | set(migrate.legacy_names(layout))


def _source(name: str, cfg: Config | None = None) -> dc.ContainerState:
    validate_name(name, "source container name")
    st = dc.inspect(name)
    if st is None:
        raise UserError(f"no container named '{name}'",
                        hint="list them with 'devbox dockeruser list-containers'")
    if st.labels.get(labels.ROLE) is None:
        raise UserError(f"container '{name}' was not made by devbox; devbox clones only its own")
    if cfg is not None:
        from devbox.services import containers

        containers._require_this_root(cfg, st)
        if pause_guard.resume_abandoned(cfg, name):  # a killed freeze left it paused
            st = dc.inspect(name) or st
    return st


def freeze(cfg: Config, source: str, log: OpLog, reporter: Reporter | None = None) -> Frozen:
    """Commit SRC's root filesystem and snapshot its /opt, SRC paused for just that long."""
    layout = Layout(cfg.root)
    from devbox import migrate

    st = _source(source, cfg)
    src_opt = migrate.record_dir(layout, source) / "opt"  # devbox's own path, not a label
    if not src_opt.is_dir():
        raise UserError(f"{source} has no /opt on the host ({src_opt})")
    snap_id = clone_plan.snapshot_id(source, time.time(), str(id(log)))
    raw = clone_plan.snapshot_raw_image(snap_id)
    image = clone_plan.snapshot_image(snap_id)
    sdir = snapshot_dir(layout, snap_id)
    snap_labels = {labels.ROLE: "snapshot", labels.SNAPSHOT: snap_id, labels.CLONE_OF: source}
    test_run = st.labels.get(labels.TEST_RUN)
    if test_run:
        snap_labels[labels.TEST_RUN] = test_run
    method = ""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sysprep")
    prepping: list[Future[Sysprep]] = []

    def do_freeze(ctx: StepContext) -> None:
        nonlocal method
        repo, _, tag = raw.rpartition(":")
        ctx.undo(f"remove {sdir}", _call(mounts.remove_tree, sdir))
        ctx.undo(f"remove image {raw}", _call(snapshots.remove_image, raw))
        ctx.undo(f"remove image {image}", _call(_remove_built, prepping, image))
        t0 = time.monotonic()
        # under the source's freeze lock, with a marker: a freeze killed (-9) while the
        # source is paused is undone by the next command or the daemon (pause_guard)
        with pause_guard.frozen(cfg, source, st.running):
            snapshots.commit(source, repo, tag, snap_labels)
            log.write(f"committed {source} as {raw}")
            # the sysprep is worked out while /opt is copied
            prepping.append(pool.submit(sysprep_snapshot, raw, image, snap_labels))
            method = mounts.snapshot_copy(src_opt, snapshot_opt(layout, snap_id), log=log)
            log.write(f"/opt snapshot made by {method}")
        ctx.note = f"{source} paused {time.monotonic() - t0:.2f}s; /opt by {method}"

    def do_sysprep(ctx: StepContext) -> None:
        prep = prepping[0].result()
        _write_json(sdir / SNAPSHOT_FILE, {"id": snap_id, "source": source, "image": image,
                                           "method": method, "created": time.time(),
                                           "source_image": st.image, "sysprep": prep.method,
                                           "removals": prep.removals})
        ctx.note = (f"{len(prep.removals)} path(s) each clone deletes in its own layer"
                    if prep.method == "layer" else f"derived image {image}")

    try:
        result = run_steps(f"freeze {source}", [Step("commit + /opt snapshot", do_freeze),
                                                Step("sysprep", do_sysprep)], log, reporter)
    finally:
        pool.shutdown(wait=True)
    prep = prepping[0].result()
    from devbox.adapters.docker_engine import image_labels

    return Frozen(snap_id, image, method, result.seconds, dict(st.labels), prep.method,
                  prep.removals, dict(image_labels(image) or {}))


def _remove_built(building: list[Future[Sysprep]], image: str) -> None:
    """Undo of the sysprep: wait for it to end (bounded), then remove the snapshot image."""
    for future in building:
        try:
            future.result(timeout=300)
        except Exception:  # noqa: BLE001 - failed builds leave nothing to remove but the tag
            pass
    snapshots.remove_image(image)


# ---------------------------------------------------------------- one clone


def _connector(cfg: Config, name: str) -> ssh.SocketFactory:
    from devbox.services import network

    return network.host_connector(cfg, name)


class _CloneMaker:
    def __init__(self, cfg: Config, name: str, source: str, frozen: Frozen, log: OpLog,
                 lim: Limits | None = None) -> None:
        self.cfg = cfg
        self.limits = lim
        self.name = name
        self.source = source
        self.frozen = frozen
        self.log = log
        self.layout = Layout(cfg.root)
        self.paths = ClonePaths(self.layout, name, frozen.snap_id)
        self.ip = ""
        self.mac = ""
        self.pid = 0
        src = frozen.source_labels
        self.parent = src.get(labels.PARENT) or None
        vlan = src.get(labels.VLAN)
        self.vlan = int(vlan) if vlan else None
        self.ifname = src.get(labels.IFNAME) or str(cfg["ifname"])
        self.keys: dict[str, tuple[bytes, bytes]] = {}

    def mount_opt(self, ctx: StepContext) -> None:
        if self.paths.dir.exists():
            raise UserError(f"{self.paths.dir} already exists; not reusing it for clone "
                            f"{self.name}", hint="remove it or pick another --prefix")
        spec = self.paths.overlay()
        ctx.undo(f"remove {self.paths.dir} (made by this clone)",
                 lambda: mounts.remove_tree(self.paths.dir))
        self.paths.dir.mkdir(parents=True)
        _write_json(self.paths.record, {"snapshot": self.frozen.snap_id, "source": self.source,
                                        "created": time.time()})
        ctx.undo(f"unmount {spec.merged}", _call(mounts.unmount, spec.merged, self.log))
        mounts.mount_overlay(spec, self.log)
        ctx.note = f"overlay on {spec.lower}"

    def create(self, ctx: StepContext) -> None:
        from devbox import macs
        from devbox.vmstyle import systemd_run_kwargs

        self.mac = macs.derive_mac(self.name)
        extra = {labels.CLONE_OF: self.source, labels.SNAPSHOT: self.frozen.snap_id}
        test_run = self.frozen.source_labels.get(labels.TEST_RUN)
        if test_run:
            extra[labels.TEST_RUN] = test_run
        src = self.frozen.source_labels
        opts = MakeOptions(name=self.name, branch=src.get(labels.BRANCH, "-"), kind="clone",
                           image=self.frozen.image, parent=self.parent, vlan=self.vlan,
                           checkout=False, extra_labels=extra)
        lbls = container_plan.container_labels(
            opts, self.frozen.image, self.parent or "", self.mac, self.ifname,
            str(self.layout.opt_dir(self.name)),
            container_plan.parse_label_setting(str(self.cfg["labels"])), root=str(self.cfg.root))
        for key in (labels.PRODUCT, labels.RELEASE, labels.PATCHES, labels.REVISION):
            if src.get(key):
                lbls[key] = src[key]
        if not self.parent:
            lbls.pop(labels.PARENT, None)
        # docker commit copies SRC's labels into the snapshot image and a container inherits
        # its image's labels: blank every devbox label of SRC's this clone does not set itself
        # (a static devbox.net.ip of SRC must not reach a clone)
        for key in self.frozen.image_labels:
            if key.startswith(labels.PREFIX) and key not in lbls:
                lbls[key] = ""
        from devbox.adapters import cgroupfs

        cgmode = cgroupfs.mode()
        kwargs = systemd_run_kwargs(name=self.name, image=self.frozen.image,
                                    opt_dir=self.layout.opt_dir(self.name), labels=lbls,
                                    cgroup_mode=cgmode, limits=self.limits)
        ctx.undo(f"remove container {self.name}", _call(dc.remove, self.name))
        dc.create(kwargs)
        if self.limits is not None:
            cgroupfs.apply_outer_limits(self.name, self.limits, cgmode)
        # unique before first boot: hostname files and fresh SSH host keys
        self.keys = hostkeys.generate_set(clone_plan.HOST_KEY_TYPES, self.name)
        files = clone_plan.clone_files(self.name, self.keys)
        how = dc.seed_files(self.name,
                            {p: (data, mode, 0, 0) for p, (data, mode) in files.items()},
                            remove=self.frozen.removals)
        ctx.note = f"MAC {self.mac}, new host keys (by {how})"

    def boot(self, ctx: StepContext) -> None:
        dc.start(self.name)
        st = dc.inspect(self.name)
        if st is None or not st.running:
            raise OperationFailed(f"clone {self.name} exited right after start",
                                  hint=containers.exited_hint(self.name))
        self.pid = st.pid

    def attach(self, ctx: StepContext) -> None:
        from devbox.services import network

        ctx.undo(f"release the lease and remove {self.name}'s LAN interface",
                 _call(network.detach, self.cfg, self.name))
        att = network.attach(self.cfg, self.name, parent=self.parent, vlan=self.vlan,
                             ifname=self.ifname, mac=self.mac, dhcp=True)
        if not att.ip:
            raise OperationFailed(f"{self.name} got no DHCP address")
        self.ip, self.mac, self.ifname = att.ip, att.mac, att.ifname
        ctx.note = f"{att.ip} on {att.parent}"

    def arp_check(self, ctx: StepContext) -> None:
        def probe() -> str | None:
            return address_clash(self.pid, self.ifname, self.mac, self.ip)

        # the daemon may re-plumb the interface right after our attach (it reacts to the
        # container's start event): retry, bounded, while the interface is briefly gone/down
        deadline = time.monotonic() + 8.0
        while True:
            try:
                other = probe()
                break
            except OSError as err:
                if err.errno not in (errno.ENETDOWN, errno.ENODEV, errno.ENXIO) \
                        or time.monotonic() > deadline:
                    raise OperationFailed(f"ARP check of {self.ip} on {self.name}: "
                                          f"{err.strerror or err}") from err
                ctx.info(f"interface not ready ({err.strerror}); probing again")
                time.sleep(0.2)
        if other:
            raise OperationFailed(f"address {self.ip} of {self.name} is also used by {other}: "
                                  "not marking the clone ready",
                                  hint="check the DHCP server's range and static addresses")
        ctx.note = f"{self.ip} is ours alone"

    def wait_ssh(self, ctx: StepContext) -> None:
        from devbox.services.containers import known_hosts

        # the keys devbox made and put in before first boot: sshd must prove it holds one of
        # them (a key exchange), so the entry recorded below is what every later login checks
        lines = [pub.decode().strip() for _priv, pub in self.keys.values()]
        seconds = ssh.wait_for_host_key(self.ip, lines, 22,
                                        timeout=float(self.cfg["ssh_timeout"]),
                                        connect=_connector(self.cfg, self.name))
        kh = known_hosts(self.layout)
        with _FILES_LOCK:
            ssh.record_host_keys(kh, [self.name, self.ip], lines)
        ctx.undo("forget the host key", lambda: _forget(kh, [self.name, self.ip]))
        ctx.note = f"sshd proved its host key after {seconds:.2f}s"

    def ssh_config(self, ctx: StepContext) -> None:
        from devbox import sshconfig
        from devbox.services import network
        from devbox.services.containers import (
            DEV_USER,
            devbox_key,
            home_dir,
            known_hosts,
            proxy_command,
        )

        # the same test devbox's own connections use (a route lookup for the clone's address)
        proxy = None if network.reachable_directly(self.ip) else \
            proxy_command(self.cfg, self.name)
        entry = sshconfig.HostEntry(self.name, self.ip, DEV_USER, devbox_key(self.layout),
                                    known_hosts(self.layout), proxy_command=proxy)
        home = home_dir(self.cfg)
        ctx.undo("remove the SSH config entry", lambda: _remove_ssh_entry(home, self.name))
        with _FILES_LOCK:
            sshconfig.write_entry(home, entry)

    def steps(self) -> list[Step]:
        return [
            Step("/opt overlay", self.mount_opt),
            Step("create + sysprep", self.create),
            Step("boot", self.boot),
            Step("attach LAN (DHCP)", self.attach),
            Step("ARP check", self.arp_check),
            Step("wait for sshd", self.wait_ssh),
            Step("SSH config entry", self.ssh_config),
        ]


def address_clash(pid: int, ifname: str, mac: str, ip: str, timeout: float = 0.3) -> str | None:
    """ARP-probe ``ip`` from interface ``ifname`` (MAC ``mac``) in the netns of ``pid``: the MAC
    of another host answering for it, else None (RFC 5227 probe: sender address 0.0.0.0)."""
    from devbox.adapters import arp, netns

    return netns.run_in(netns.pid_path(pid),
                        lambda: arp.probe(ifname, mac, ip, timeout=timeout, probes=2), timeout=10)


def _forget(known: Path, names: list[str]) -> None:
    with _FILES_LOCK:
        ssh.forget_host(known, names)


def _remove_ssh_entry(home: Path, name: str) -> None:
    from devbox import sshconfig

    with _FILES_LOCK:
        sshconfig.remove_entry(home, name)


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


def make_one(cfg: Config, name: str, source: str, frozen: Frozen,
             reporter: Reporter | None = None,
             cancel: threading.Event | None = None,
             lim: Limits | None = None) -> CloneResult:
    """Make clone ``name`` of a frozen ``source``; on failure it is rolled back (never raises
    for a DevboxError: the result says what went wrong)."""
    from devbox.services.containers import write_state

    layout = Layout(cfg.root)
    log_path = layout.container_log(name)
    t0 = time.monotonic()
    try:
        validate_name(name, "clone name")
        with name_lock(layout.locks, name, "cloning"), OpLog(log_path) as log:
            if dc.inspect(name) is not None:
                raise UserError(f"a container named '{name}' already exists")
            maker = _CloneMaker(cfg, name, source, frozen, log, lim)
            run_steps(f"clone {source} -> {name}", _cancellable(maker.steps(), cancel), log,
                      reporter, cleanup_hint=f"devbox dockeruser remove-dev-container {name}")
            write_state(layout, name, ready=True, kind="clone", branch=frozen.source_labels.get(
                labels.BRANCH, ""), image=frozen.image, ip=maker.ip, mac=maker.mac,
                source=source, snapshot=frozen.snap_id, made=time.time())
    except DevboxError as err:
        return CloneResult(name, False, seconds=time.monotonic() - t0, error=str(err),
                           hint=err.hint or "", log=str(log_path))
    return CloneResult(name, True, ip=maker.ip, mac=maker.mac, seconds=time.monotonic() - t0,
                       log=str(log_path))


# ---------------------------------------------------------------- the command


def clone(cfg: Config, source: str, count: int, prefix: str | None = None,
          jobs: int | None = None,
          reporter_for: Callable[[str], Reporter] | None = None,
          requested: Limits | None = None) -> CloneRun:
    """Freeze ``source`` once and make ``count`` clones, ``jobs`` at a time.

    ``reporter_for(name)`` gives the progress reporter of one clone (or of "freeze").
    """
    layout = Layout(cfg.root)
    t0 = time.monotonic()
    src_state = _source(source, cfg)
    # the source's limits (devbox set them at make) under what the caller asks for; checked
    # against the host before anything is made
    lim = limits_mod.resolve(limits_mod.settings_of(cfg), procfs.host_size(),
                             limits_mod.from_labels(src_state.labels), requested or Limits())
    names = clone_plan.clone_names(source, count, _existing_names(layout), prefix)
    workers = clone_plan.check_jobs(jobs, count, os.cpu_count() or 1)
    # a clone the kernel would not let boot is refused now, before anything is made
    capacity.require_room(procfs.inotify_room(), count, f"cloning {source} {count} time(s)")
    with OpLog(layout.container_log(source)) as log:
        log.write(f"clone {source} x{count} ({', '.join(names)}), {workers} at a time")
        from devbox import migrate

        migrate.protect_store(layout, log)
        frozen = freeze(cfg, source, log, reporter_for("freeze") if reporter_for else None)
    results: list[CloneResult] = []
    cancel = threading.Event()
    interrupted = False
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="clone") as pool:
        futures = [pool.submit(make_one, cfg, name, source, frozen,
                               reporter_for(name) if reporter_for else None, cancel, lim)
                   for name in names]
        for future in futures:
            while True:
                try:
                    results.append(future.result())
                    break
                except KeyboardInterrupt:
                    # stop the clones still in progress (each rolls back), keep finished ones
                    interrupted = True
                    cancel.set()
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
        raise Interrupted(f"clone of {source} interrupted; unfinished clones rolled back",
                          hint=("kept the finished ones: " + ", ".join(kept)) if kept else None)
    return CloneRun(source=source, snapshot=frozen.snap_id, image=frozen.image,
                    snapshot_method=frozen.method, freeze_seconds=frozen.seconds,
                    seconds=time.monotonic() - t0, clones=results)


# ---------------------------------------------------------------- removal and reboot


def clones_of(source: str) -> list[str]:
    validate_name(source, "source container name")
    return sorted(st.name for st in dc.list_labeled(f"{labels.CLONE_OF}={source}")
                  if st.labels.get(labels.KIND) == "clone")


def release_storage(cfg: Config, name: str, purge: bool, log: OpLog = NULL_LOG) -> bool:
    """After clone ``name``'s container is gone: unmount its /opt overlay; with ``purge`` also
    remove its upper layer and directory, then snapshots nothing uses any more. Returns whether
    ``name`` was a clone with storage here."""
    layout = Layout(cfg.root)
    paths_dir = layout.container_dir(name)
    record = _read_json(paths_dir / CLONE_FILE)
    if not record.get("snapshot"):
        return False
    paths = ClonePaths(layout, name, str(record["snapshot"]))
    mounts.unmount(paths.overlay().merged, log)
    if purge:
        mounts.remove_tree(paths.dir)
        gc_snapshots(cfg)
    return True


def gc_snapshots(cfg: Config, only: Iterable[str] | None = None) -> list[str]:
    """Remove snapshots (image + /opt copy) no container and no clone directory uses."""
    layout = Layout(cfg.root)
    wanted = set(only) if only is not None else None
    used = {str(r.get("snapshot")) for r in clone_records(layout, legacy=True).values()}
    removed = []
    candidates: set[str] = set()
    if layout.snapshots.is_dir():
        candidates |= {p.name for p in layout.snapshots.iterdir() if p.is_dir()}
    for img in snapshots.images_labelled(f"{labels.ROLE}=snapshot"):
        snap = ((img.get("Labels") or {}).get(labels.SNAPSHOT))
        if snap:
            candidates.add(str(snap))
    for snap in sorted(candidates):
        if wanted is not None and snap not in wanted:
            continue
        if snap in used or snapshots.containers_using(f"{labels.SNAPSHOT}={snap}"):
            continue
        snapshots.remove_image(clone_plan.snapshot_image(snap))
        snapshots.remove_image(clone_plan.snapshot_raw_image(snap))
        mounts.remove_tree(snapshot_dir(layout, snap))
        removed.append(snap)
    return removed


@dataclass
class RemoveClonesResult:
    source: str
    removed: list[str]
    snapshots_removed: list[str]
    failed: dict[str, str]


def remove_clones(cfg: Config, source: str) -> RemoveClonesResult:
    """Remove every clone of ``source``: container, lease, interface, SSH entry, overlay mount,
    upper layer; then the snapshot(s) no longer used."""
    from devbox.services import containers

    names = clones_of(source)
    layout = Layout(cfg.root)
    names += [n for n, r in clone_records(layout).items()
              if r.get("source") == source and n not in names and dc.inspect(n) is None]
    before = set(_snapshot_ids(layout))
    removed, failed = [], {}
    for name in names:
        try:
            if dc.inspect(name) is not None or layout.state_file(name).exists():
                containers.remove(cfg, name, purge=True)
            else:
                release_storage(cfg, name, purge=True)
            removed.append(name)
        except DevboxError as err:
            failed[name] = str(err)
    gc_snapshots(cfg)
    snaps = sorted(before - set(_snapshot_ids(layout)))
    return RemoveClonesResult(source, removed, snaps, failed)


def _snapshot_ids(layout: Layout) -> list[str]:
    if not layout.snapshots.is_dir():
        return []
    return [p.name for p in layout.snapshots.iterdir() if p.is_dir()]


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
