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

import errno
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from devbox.adapters import ssh, ssh_hostkeys
from devbox.adapters.docker import containers as dc
from devbox.adapters.host import mounts, procfs
from devbox.config import Config
from devbox.errors import DevboxError, OperationFailed, UserError
from devbox.locks import name_lock
from devbox.model import capacity, clone_plan, container_plan, labels
from devbox.model import limits as limits_mod
from devbox.model.container_plan import MakeOptions
from devbox.model.limits import Limits
from devbox.model.naming import validate_name
from devbox.oplog import OpLog
from devbox.paths import Layout
from devbox.services import container_lifecycle
from devbox.services.clone_snapshot import Frozen, _call, _existing_names, _source, freeze
from devbox.services.clone_storage import gc_snapshots, release_storage
from devbox.state.clone_records import (
    _FILES_LOCK,
    ClonePaths,
    _snapshot_ids,
    _write_json,
    clone_records,
    clones_of,
)
from devbox.steps import Reporter, Step, StepContext, run_steps


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
















# ---------------------------------------------------------------- freeze
















# ---------------------------------------------------------------- one clone


def _connector(cfg: Config, name: str) -> ssh.SocketFactory:
    from devbox.services import host_reach

    return host_reach.host_connector(cfg, name)


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
        from devbox.model import macs
        from devbox.model.vmstyle import systemd_run_kwargs

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
        from devbox.adapters.host import cgroupfs

        cgmode = cgroupfs.mode()
        kwargs = systemd_run_kwargs(name=self.name, image=self.frozen.image,
                                    opt_dir=self.layout.opt_dir(self.name), labels=lbls,
                                    cgroup_mode=cgmode, limits=self.limits)
        ctx.undo(f"remove container {self.name}", _call(dc.remove, self.name))
        dc.create(kwargs)
        if self.limits is not None:
            cgroupfs.apply_outer_limits(self.name, self.limits, cgmode)
        # unique before first boot: hostname files and fresh SSH host keys
        self.keys = ssh_hostkeys.generate_set(clone_plan.HOST_KEY_TYPES, self.name)
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
                                  hint=container_lifecycle.exited_hint(self.name))
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
        from devbox.state.container_records import known_hosts

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
        from devbox.adapters.host import sshconfig
        from devbox.services import host_reach
        from devbox.services.host_reach import proxy_command
        from devbox.state.container_records import DEV_USER, devbox_key, home_dir, known_hosts

        # the same test devbox's own connections use (a route lookup for the clone's address)
        proxy = None if host_reach.reachable_directly(self.ip) else \
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
    from devbox.adapters.net import arp, netns

    return netns.run_in(netns.pid_path(pid),
                        lambda: arp.probe(ifname, mac, ip, timeout=timeout, probes=2), timeout=10)


def _forget(known: Path, names: list[str]) -> None:
    with _FILES_LOCK:
        ssh.forget_host(known, names)


def _remove_ssh_entry(home: Path, name: str) -> None:
    from devbox.adapters.host import sshconfig

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
    from devbox.state.container_records import write_state

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
        from devbox.state import migrate

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








@dataclass
class RemoveClonesResult:
    source: str
    removed: list[str]
    snapshots_removed: list[str]
    failed: dict[str, str]


def remove_clones(cfg: Config, source: str) -> RemoveClonesResult:
    """Remove every clone of ``source``: container, lease, interface, SSH entry, overlay mount,
    upper layer; then the snapshot(s) no longer used."""
    from devbox.services import container_lifecycle

    names = clones_of(source)
    layout = Layout(cfg.root)
    names += [n for n, r in clone_records(layout).items()
              if r.get("source") == source and n not in names and dc.inspect(n) is None]
    before = set(_snapshot_ids(layout))
    removed, failed = [], {}
    for name in names:
        try:
            if dc.inspect(name) is not None or layout.state_file(name).exists():
                container_lifecycle.remove(cfg, name, purge=True)
            else:
                release_storage(cfg, name, purge=True)
            removed.append(name)
        except DevboxError as err:
            failed[name] = str(err)
    gc_snapshots(cfg)
    snaps = sorted(before - set(_snapshot_ids(layout)))
    return RemoveClonesResult(source, removed, snaps, failed)






