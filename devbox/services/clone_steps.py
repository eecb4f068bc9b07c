"""The steps of one clone, as module-level functions over one :class:`CloneJob` (what the
steps share); the step list itself, in order, is ``devbox.services.clone.STEPS``."""

from __future__ import annotations

import errno
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devbox.adapters import ssh, ssh_hostkeys
from devbox.adapters.docker import containers as dc
from devbox.adapters.host import mounts
from devbox.config import Config
from devbox.errors import DevboxError, OperationFailed, UserError
from devbox.model import clone_plan, container_plan, labels
from devbox.model.container_plan import MakeOptions
from devbox.model.limits import Limits
from devbox.oplog import OpLog
from devbox.paths import Layout
from devbox.services import container_lifecycle, login_keys
from devbox.services.clone_snapshot import Frozen, undo_call
from devbox.state.clone_records import FILES_LOCK, ClonePaths, write_record
from devbox.state.container_records import DEV_USER
from devbox.steps import StepContext
from devbox.waits import poll

ARP_READY_WAIT = 8.0  # seconds the ARP check waits for the interface to be up again


@dataclass
class CloneJob:
    """What the steps of one clone share: the request, and what the steps find out."""

    cfg: Config
    name: str
    source: str
    frozen: Frozen
    log: OpLog
    limits: Limits | None = None
    owner_labels: dict[str, str] = field(default_factory=dict)  # whoever clones owns it
    layout: Layout = field(init=False)
    paths: ClonePaths = field(init=False)
    parent: str | None = field(init=False)
    vlan: int | None = field(init=False)
    ifname: str = field(init=False)
    ip: str = ""
    mac: str = ""
    user: str = ""  # its login user (its label)
    pid: int = 0
    keys: dict[str, tuple[bytes, bytes]] = field(default_factory=dict)
    # None: the source's authorized_keys stay (its owner clones); else the cloner's keys
    # replace them (another's clone must not let the source's owner in)
    login_keys: list[str] | None = None
    # the ARP check started by arp_started, its verdict taken by wait_ssh
    arp: Future[str] | None = None
    arp_stop: threading.Event = field(default_factory=threading.Event)
    # how the client's own ssh reaches it (container_reach.Reach), handed back with the
    # result: the client writes its entries without asking the service once per clone
    reach: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.layout = Layout(self.cfg.root)
        self.paths = ClonePaths(self.layout, self.name, self.frozen.snap_id)
        src = self.frozen.source_labels
        self.parent = src.get(labels.PARENT) or None
        vlan = src.get(labels.VLAN)
        self.vlan = int(vlan) if vlan else None
        self.ifname = src.get(labels.IFNAME) or self.cfg.text("ifname")


def mount_opt(job: CloneJob, ctx: StepContext) -> None:
    if job.paths.dir.exists():
        raise UserError(
            f"{job.paths.dir} already exists; not reusing it for clone {job.name}",
            hint="remove it or pick another --prefix",
        )
    spec = job.paths.overlay()
    ctx.undo(
        f"remove {job.paths.dir} (made by this clone)", lambda: mounts.remove_tree(job.paths.dir)
    )
    job.paths.dir.mkdir(parents=True)
    write_record(
        job.paths.record,
        {"snapshot": job.frozen.snap_id, "source": job.source, "created": time.time()},
    )
    ctx.undo(f"unmount {spec.merged}", undo_call(mounts.unmount, spec.merged, job.log))
    mounts.mount_overlay(spec, job.log)
    ctx.note = f"overlay on {spec.lower}"


def create(job: CloneJob, ctx: StepContext) -> None:
    from devbox.model import macs
    from devbox.model.vmstyle import systemd_run_kwargs

    job.mac = macs.derive_mac(job.name)
    extra = {labels.CLONE_OF: job.source, labels.SNAPSHOT: job.frozen.snap_id}
    test_run = job.frozen.source_labels.get(labels.TEST_RUN)
    if test_run:
        extra[labels.TEST_RUN] = test_run
    extra.update(job.owner_labels)
    src = job.frozen.source_labels
    opts = MakeOptions(
        name=job.name,
        branch=src.get(labels.BRANCH, "-"),
        kind="clone",
        image=job.frozen.image,
        parent=job.parent,
        vlan=job.vlan,
        checkout=False,
        extra_labels=extra,
    )
    lbls = container_plan.container_labels(
        opts,
        job.frozen.image,
        job.parent or "",
        job.mac,
        job.ifname,
        str(job.layout.opt_dir(job.name)),
        container_plan.parse_label_setting(job.cfg.text("labels")),
        root=str(job.cfg.root),
    )
    for key in (labels.PRODUCT, labels.RELEASE, labels.PATCHES, labels.REVISION):
        if src.get(key):
            lbls[key] = src[key]
    job.user = lbls.get(labels.USER, "")
    if not job.parent:
        lbls.pop(labels.PARENT, None)
    # docker commit copies SRC's labels into the snapshot image and a container inherits
    # its image's labels: blank every devbox label of SRC's this clone does not set itself
    # (a static devbox.net.ip of SRC must not reach a clone)
    for key in job.frozen.image_labels:
        if key.startswith(labels.PREFIX) and key not in lbls:
            lbls[key] = ""
    from devbox.adapters.host import cgroupfs

    cgmode = cgroupfs.mode()
    kwargs = systemd_run_kwargs(
        name=job.name,
        image=job.frozen.image,
        opt_dir=job.layout.opt_dir(job.name),
        labels=lbls,
        cgroup_mode=cgmode,
        limits=job.limits,
    )
    ctx.undo(f"remove container {job.name}", undo_call(dc.remove, job.name))
    dc.create(kwargs)
    if job.limits is not None:
        cgroupfs.apply_outer_limits(job.name, job.limits, cgmode)
    # unique before first boot: hostname files and fresh SSH host keys
    job.keys = ssh_hostkeys.generate_set(clone_plan.HOST_KEY_TYPES, job.name)
    files = clone_plan.clone_files(job.name, job.keys)
    seeded: login_keys.Files = {p: (data, mode, 0, 0) for p, (data, mode) in files.items()}
    dirs: login_keys.Dirs = {}
    if job.login_keys is not None:
        ids = login_keys.image_ids(job.name, DEV_USER)
        if ids is None:
            raise OperationFailed(
                f"cannot give clone {job.name} your SSH keys: its image's /etc/passwd has no "
                f"{DEV_USER} user with home /home/{DEV_USER}"
            )
        text = login_keys.authorized_keys_text(job.layout, job.login_keys)
        keys_files, dirs = login_keys.files_for(DEV_USER, *ids, text)
        seeded.update(keys_files)
    how = dc.seed_files(job.name, seeded, remove=job.frozen.removals, dirs=dirs)
    ctx.note = f"MAC {job.mac}, new host keys (by {how})"


def boot(job: CloneJob, ctx: StepContext) -> None:
    dc.start(job.name)
    st = dc.inspect(job.name)
    if st is None or not st.running:
        raise OperationFailed(
            f"clone {job.name} exited right after start",
            hint=container_lifecycle.exited_hint(job.name),
        )
    job.pid = st.pid


def attach(job: CloneJob, ctx: StepContext) -> None:
    from devbox.services import network

    ctx.undo(
        f"release the lease and remove {job.name}'s LAN interface",
        undo_call(network.detach, job.cfg, job.name),
    )
    att = network.attach(
        job.cfg,
        job.name,
        parent=job.parent,
        vlan=job.vlan,
        ifname=job.ifname,
        mac=job.mac,
        dhcp=True,
    )
    if not att.ip:
        raise OperationFailed(f"{job.name} got no DHCP address")
    job.ip, job.mac, job.ifname = att.ip, att.mac, att.ifname
    ctx.note = f"{att.ip} on {att.parent}"


def arp_check(job: CloneJob, ctx: StepContext) -> None:
    ctx.note = _arp_verdict(job, ctx.info)


def arp_started(job: CloneJob, ctx: StepContext) -> None:
    """The ARP check, started: its probe listens 0.3 s for another host on our address while
    sshd starts; :func:`wait_ssh` takes its verdict (a clash fails the clone, as
    :func:`arp_check` does) before the host key is recorded and the clone counts as made."""
    job.arp_stop.clear()
    job.arp = _in_thread(f"arp {job.name}", lambda: _arp_verdict(job, ctx.info, job.arp_stop))
    ctx.undo("end the ARP probe", lambda: _end_probe(job))
    ctx.note = "probing while sshd starts"


ARP_JOIN_WAIT = ARP_READY_WAIT + 15.0  # the probe's own bound (netns.run_in's 10 s) and more


def _arp_result(job: CloneJob) -> str:
    """The verdict of the ARP check :func:`arp_started` began ("" when none was)."""
    if job.arp is None:
        return ""
    try:
        return job.arp.result(timeout=ARP_JOIN_WAIT)
    except FutureTimeout as err:
        raise OperationFailed(f"ARP check of {job.ip} on {job.name} did not end") from err


def _end_probe(job: CloneJob) -> None:
    """Undo of :func:`arp_started`: stop the probe and wait (bounded) until it has."""
    job.arp_stop.set()
    if job.arp is not None:
        try:
            job.arp.exception(timeout=ARP_JOIN_WAIT)
        except FutureTimeout:
            pass


def _in_thread(name: str, fn: Callable[[], str]) -> Future[str]:
    future: Future[str] = Future()

    def run() -> None:
        try:
            future.set_result(fn())
        except BaseException as err:  # noqa: BLE001 - handed to whoever takes the result
            future.set_exception(err)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future


def _arp_verdict(
    job: CloneJob, info: Callable[[str], None], stop: threading.Event | None = None
) -> str:
    """Probe the clone's address until the interface answers (bounded): the note when no other
    host has it; raises OperationFailed when one does or the probe fails."""

    def failed(err: OSError) -> OperationFailed:
        return OperationFailed(f"ARP check of {job.ip} on {job.name}: {err.strerror or err}")

    not_ready: list[OSError] = []

    def probe() -> tuple[str | None] | None:
        """(who else answers for our address,), or None while the interface is not ready."""
        if stop is not None and stop.is_set():
            return (None,)
        if not_ready:
            info(f"interface not ready ({not_ready[-1].strerror}); probing again")
        try:
            return (address_clash(job.pid, job.ifname, job.mac, job.ip),)
        except OSError as err:
            if err.errno not in (errno.ENETDOWN, errno.ENODEV, errno.ENXIO):
                raise failed(err) from err
            not_ready.append(err)
            return None

    # the daemon may re-plumb the interface right after our attach (it reacts to the
    # container's start event): retry, bounded, while the interface is briefly gone/down
    found = poll(probe, ARP_READY_WAIT, 0.2)
    if found is None:
        raise failed(not_ready[-1]) from not_ready[-1]
    (other,) = found
    if other:
        raise OperationFailed(
            f"address {job.ip} of {job.name} is also used by {other}: not marking the clone ready",
            hint="check the DHCP server's range and static addresses",
        )
    return f"{job.ip} is ours alone"


def wait_ssh(job: CloneJob, ctx: StepContext) -> None:
    from devbox.state.container_records import known_hosts

    # the keys devbox made and put in before first boot: sshd must prove it holds one of
    # them (a key exchange), so the entry recorded below is what every later login checks
    lines = [pub.decode().strip() for _priv, pub in job.keys.values()]
    try:
        seconds = ssh.wait_for_host_key(
            job.ip,
            lines,
            22,
            timeout=job.cfg.number("ssh_timeout"),
            connect=_connector(job.cfg, job.name),
        )
    except OperationFailed:
        _arp_result(job)  # another host on our address explains it better
        raise
    arp = _arp_result(job)  # the ARP check begun before sshd: a clash fails the clone here
    kh = known_hosts(job.layout)
    names = [job.name, job.ip]
    t0 = time.monotonic()
    with FILES_LOCK:
        ssh.record_host_keys(kh, names, lines)
    ctx.undo("forget the host key", lambda: _forget(kh, names))
    # "answered": sshd took the connection (the key exchange that proved the key came after)
    ctx.note = (
        f"sshd answered after {seconds:.2f}s and proved its host key; known_hosts "
        f"{time.monotonic() - t0:.2f}s" + (f"; {arp}" if arp else "")
    )


def ssh_config(job: CloneJob, ctx: StepContext) -> None:
    from devbox.adapters.host import sshconfig
    from devbox.services.container_reach import reach_of
    from devbox.state.container_records import DEV_USER, home_dir

    # the host keys devbox made, as known_hosts holds them (type and key)
    keys = [" ".join(pub.decode().split()[:2]) for _priv, pub in job.keys.values()]
    writes = job.cfg.flag("ssh.write_config")
    try:
        reach = reach_of(job.cfg, job.name, job.ip, job.user or DEV_USER, keys)
    except DevboxError as err:  # the route lookup failed: the client asks the service later
        if writes:
            raise
        ctx.skip(f"the client writes it, as its user (it asks for the facts: {err.message})")
    job.reach = reach.to_dict()
    if not writes:
        ctx.skip("the client writes it, as its user")
    # root's own entry: the same facts, with devbox's key and known_hosts
    entry = sshconfig.HostEntry(
        job.name,
        job.ip,
        reach.user,
        Path(reach.identity_file),
        Path(reach.known_hosts),
        proxy_command=reach.proxy_command,
    )
    home = home_dir(job.cfg)
    ctx.undo("remove the SSH config entry", lambda: _remove_ssh_entry(home, job.name))
    with FILES_LOCK:
        sshconfig.write_entry(home, entry)


def _connector(cfg: Config, name: str) -> ssh.SocketFactory:
    from devbox.services import host_reach

    return host_reach.host_connector(cfg, name)


def address_clash(pid: int, ifname: str, mac: str, ip: str, timeout: float = 0.3) -> str | None:
    """ARP-probe ``ip`` from interface ``ifname`` (MAC ``mac``) in the netns of ``pid``: the MAC
    of another host answering for it, else None (RFC 5227 probe: sender address 0.0.0.0)."""
    from devbox.adapters.net import arp, netns

    return netns.run_in(
        netns.pid_path(pid),
        lambda: arp.probe(ifname, mac, ip, timeout=timeout, probes=2),
        timeout=10,
    )


def _forget(known: Path, names: list[str]) -> None:
    with FILES_LOCK:
        ssh.forget_host(known, names)


def _remove_ssh_entry(home: Path, name: str) -> None:
    from devbox.adapters.host import sshconfig

    with FILES_LOCK:
        sshconfig.remove_entry(home, name)
