"""Simulated hosts on the lab LAN: ``devbox common lab up --hosts N`` / ``lab down``.

The lab first becomes a bridge (:mod:`devbox.services.lab_bridge`), then each host is made
by :data:`HOST_STEPS`: a netns, a veth uplink on the bridge, a DHCP lease from the lab's
dnsmasq, a dockerd, an sshd and a devbox service of its own (the plan,
:mod:`devbox.model.lab_hosts_plan`, names every part). What runs is recorded in the host's
``host.json`` (PID and start time, :mod:`devbox.services.lab_host_procs`) as soon as it runs,
so ``down`` stops exactly that, and after a crash still finds whatever runs in the host's
netns. ``down`` converges: run twice, or after a half-made ``up``, it leaves no netns, veth,
process, mount or folder of the hosts.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devbox import jsonfile
from devbox.config import Config
from devbox.errors import NotReadyError
from devbox.model import lab_hosts_plan as hp
from devbox.model.lab_plan import LabPlan
from devbox.model.lab_plan import plan as lab_plan
from devbox.model.record import Record
from devbox.oplog import OpLog
from devbox.paths import Layout
from devbox.services import daemon_control, lab, lab_bridge, lab_host_dhcp, lab_host_registry
from devbox.services import lab_host_procs as procs
from devbox.steps import JobSteps, Reporter, Step, StepContext, bind, run_steps

START_TIMEOUT = {"dockerd": 90.0, "sshd": 20.0, "service": 30.0}


@dataclass
class HostStatus(Record):
    name: str
    index: int
    netns: str
    netns_present: bool
    uplink: str
    mac: str
    address: str
    docker_host: str
    dockerd_pid: int | None
    dockerd_alive: bool
    sshd_pid: int | None
    sshd_alive: bool
    service_socket: str
    service_pid: int | None
    service_alive: bool
    root: str
    authorized_keys: str


# --- records ---------------------------------------------------------------------------------


# --- one simulated host, step by step ---------------------------------------------------------


@dataclass
class HostJob:
    cfg: Config
    lab: LabPlan
    host: hp.SimHost
    log: OpLog
    programs: dict[str, str]
    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    address: str = ""


def make_folder(job: HostJob, ctx: StepContext) -> None:
    h = job.host
    if h.dir.is_dir():
        ctx.skip("exists")
    h.dir.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(h.dir.parent, 0o700)
    h.dir.mkdir(mode=0o700)
    ctx.undo(f"remove {h.dir}", lambda: _remove_folder(h))
    for sub in (h.root, h.ssh_dir):
        sub.mkdir(mode=0o700, exist_ok=True)


def make_netns(job: HostJob, ctx: StepContext) -> None:
    from devbox.adapters.net import netns

    h = job.host
    if netns.exists(h.netns):
        ctx.skip("exists")
    netns.create(h.netns)
    ctx.undo(f"remove netns {h.netns}", lambda: netns.remove(h.netns))


def make_uplink(job: HostJob, ctx: StepContext) -> None:
    from devbox.adapters.net import bridge, netlink, netns

    h, lab_ns = job.host, netns.named_path(job.lab.name)
    port = netlink.get_link(h.port, lab_ns)
    if port is not None and netlink.get_link(h.uplink, netns.named_path(h.netns)) is not None:
        bridge.enslave(h.port, hp.BRIDGE_IFNAME, lab_ns)
        ctx.skip("exists")
    if port is not None:
        netlink.delete_link(h.port, lab_ns)  # half a pair from an interrupted run
    bridge.create_veth_between(h.port, job.lab.name, h.uplink, h.netns, h.mac)
    ctx.undo(f"delete veth {h.port}", lambda: netlink.discard(h.port, lab_ns))
    bridge.enslave(h.port, hp.BRIDGE_IFNAME, lab_ns)


def get_address(job: HostJob, ctx: StepContext) -> None:
    """A lease from the lab's dnsmasq (stable MAC and client id: the same address each time);
    the address and the default route stay on the uplink after the client stops."""
    import ipaddress

    from devbox.adapters.net import dhcp, netlink, netns

    h, p = job.host, job.lab
    ns = netns.named_path(h.netns)
    subnet = ipaddress.IPv4Network(p.subnet)
    for ip, _plen in netlink.addresses(h.uplink, ns):
        if ipaddress.IPv4Address(ip) in subnet:
            job.address = ip
            procs.note(h, address=ip, prefixlen=p.prefixlen, mac=h.mac)
            ctx.skip(f"has {ip}")
    session = dhcp.DhcpSession(
        netns=ns, ifname=h.uplink, mac=h.mac, hostname=h.name, client_id=h.client_id
    ).start()
    try:
        info = session.wait_bound(job.cfg.number("dhcp_timeout"))
    finally:
        session.stop(release=False)
    job.address = info.ip
    procs.note(h, address=info.ip, prefixlen=info.prefixlen, mac=h.mac)
    ctx.info(f"{h.name}: {info.ip}/{info.prefixlen} from {info.server_id}")


def start_dockerd(job: HostJob, ctx: StepContext) -> None:
    from devbox.adapters.host import mounts, unixsock

    h = job.host
    if procs.running_in(job.host, "dockerd"):
        ctx.skip("running")
    jsonfile.write_text(h.dockerd_config, "{}\n", mode=0o600)  # never /etc/docker/daemon.json
    # its images in memory: a simulated host lives as long as the lab, and lab down then
    # unmounts them instead of deleting a few hundred MB of layer files one by one
    mounts.mount_tmpfs(h.data_root, log=job.log)
    env = {"PATH": job.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")}
    procs.spawn_in(
        job.host, "dockerd", h.dockerd_argv(job.programs["dockerd"]), h.dockerd_log, env, job.log
    )
    ctx.undo(f"stop dockerd of {h.name}", procs.stopper(h, "dockerd"))
    procs.wait_started(
        h,
        "dockerd",
        lambda: unixsock.http_status(h.docker_socket, "/_ping") == 200,
        h.dockerd_log,
        START_TIMEOUT["dockerd"],
    )


def start_sshd(job: HostJob, ctx: StepContext) -> None:
    from devbox.adapters import ssh, templates
    from devbox.adapters.host import process
    from devbox.adapters.net import netns

    h = job.host
    if procs.running_in(job.host, "sshd"):
        ctx.skip("running")
    if not h.host_key.exists():
        keygen = job.programs["ssh-keygen"]
        process.run(
            [keygen, "-q", "-t", "ed25519", "-N", "", "-C", h.name, "-f", str(h.host_key)],
            log=job.log,
            timeout=30,
        )
    if not h.authorized_keys.exists():
        jsonfile.write_text(h.authorized_keys, "", mode=0o600)
    jsonfile.write_text(
        h.sshd_config, templates.render("sshd_config.j2", h.sshd_context(job.address)), mode=0o600
    )
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation dir
    sshd = job.programs["sshd"]
    process.run([sshd, "-t", "-f", str(h.sshd_config)], log=job.log, timeout=30)
    procs.spawn_in(
        job.host,
        "sshd",
        h.sshd_argv(sshd),
        h.sshd_log,
        {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        job.log,
    )
    ctx.undo(f"stop sshd of {h.name}", procs.stopper(h, "sshd"))
    ns = netns.named_path(h.netns)
    public = Path(f"{h.host_key}.pub").read_text()

    def connect(host: str, port: int, timeout: float) -> Any:
        import socket

        return netns.run_in(ns, lambda: socket.create_connection((host, port), timeout=timeout))

    ssh.wait_for_host_key(job.address, [public], timeout=START_TIMEOUT["sshd"], connect=connect)


def start_service(job: HostJob, ctx: StepContext) -> None:
    from devbox.adapters.host import unixsock

    h = job.host
    if procs.running_in(job.host, "service"):
        ctx.skip("running")
    argv = [
        sys.executable,
        *daemon_control.SAFE_PYTHON,
        "-m",
        "devbox",
        "--root",
        str(h.root),
        "common",
        "daemon",
    ]
    procs.spawn_in(
        job.host, "service", argv, h.service_log, h.service_environ(job.environ), job.log
    )
    ctx.undo(f"stop the devbox service of {h.name}", procs.stopper(h, "service"))
    procs.wait_started(
        h,
        "service",
        lambda: unixsock.http_status(h.service_socket, "/v1/version") is not None,
        h.service_log,
        START_TIMEOUT["service"],
    )


# a simulated host, step by step; the names are what the log, the progress display and the
# fault suite's kill points see
HOST_STEPS: JobSteps[HostJob] = [
    ("{job.host.name}: folder", make_folder),
    ("{job.host.name}: network namespace", make_netns),
    ("{job.host.name}: uplink", make_uplink),
    ("{job.host.name}: DHCP address", get_address),
    ("{job.host.name}: DHCP client", lab_host_dhcp.step),
    ("{job.host.name}: dockerd", start_dockerd),
    ("{job.host.name}: sshd", start_sshd),
    ("{job.host.name}: home and registry", lab_host_registry.step),
    ("{job.host.name}: devbox service", start_service),
]


# --- up / down / status ---------------------------------------------------------------------


def _programs() -> dict[str, str]:
    from devbox.adapters.host import process

    return {
        "dockerd": process.require("dockerd", "docker.io"),
        "sshd": process.require("sshd", "openssh-server"),
        "ssh-keygen": process.require("ssh-keygen", "openssh-client"),
    }


def _hosts_dir(cfg: Config) -> Path:
    return Layout(cfg.root).lab_hosts


def existing(cfg: Config) -> list[hp.SimHost]:
    """The hosts that have a folder (made by an earlier ``up``), by host number."""
    p = lab_plan(cfg)
    try:
        names = os.listdir(_hosts_dir(cfg))
    except FileNotFoundError:
        return []
    found = sorted(i for n in names if (i := hp.index_of(p.name, n)) is not None)
    return [hp.sim_host(p, _hosts_dir(cfg), i) for i in found]


def _plan(cfg: Config, count: int | None) -> hp.LabHostsPlan:
    have = existing(cfg)
    count = count if count is not None else max([h.index for h in have], default=1)
    return hp.plan(lab_plan(cfg), _hosts_dir(cfg), count)


def check(cfg: Config, count: int | None) -> int:
    """How many simulated hosts ``up(cfg, count)`` keeps; a bad count, name or missing
    program fails here, before anything is made."""
    plan = _plan(cfg, count)
    if plan.hosts:
        _programs()
    return len(plan.hosts)


def up(cfg: Config, count: int | None = None, reporter: Reporter | None = None) -> list[str]:
    """The lab with ``count`` hosts (this machine and ``count - 1`` simulated ones; None: as
    many as it has). Idempotent; hosts numbered above ``count`` are removed. Returns the
    names of the simulated hosts."""
    p = lab_plan(cfg)
    have = existing(cfg)
    plan = _plan(cfg, count)
    count = len(plan.hosts) + 1
    programs = _programs() if plan.hosts else {}
    if plan.hosts and not lab.is_up(cfg):
        raise NotReadyError(
            f"the lab LAN {p.name} is not up", hint="run 'devbox common lab up' first"
        )
    log = OpLog(Layout(cfg.root).host_log)
    for extra in (h for h in have if h.index > count):
        remove_host(cfg, extra, log)
    if not plan.hosts:
        if reporter is not None:
            reporter.close()
        return []
    steps: list[Step] = bind(lab_bridge.BridgeJob(cfg, p, log), lab_bridge.STEPS)
    for host in plan.hosts:
        steps += bind(HostJob(cfg, p, host, log, programs), HOST_STEPS)
    run_steps(f"lab up {p.name} --hosts {count}", steps, log, reporter)
    return [h.name for h in plan.hosts]


def _remove_folder(host: hp.SimHost) -> None:
    from devbox.adapters.host import mounts

    for folder in (host.exec_root, host.dir):  # dockerd's runtime state under /run, its data
        inside = [m.target for m in mounts.mounts() if m.target.startswith(f"{folder}/")]
        for target in sorted(inside, key=len, reverse=True):  # deepest first
            for _ in range(4):  # bounded: a mount stacked a few times by a crashed run
                if not mounts.unmount(Path(target)):
                    break
        mounts.remove_tree(folder)


def remove_host(cfg: Config, host: hp.SimHost, log: OpLog) -> list[str]:
    """Stop what ``host`` runs (by its record, then whatever is left in its netns), then remove
    its uplink, netns, mounts and folder. Missing parts are fine; returns what was removed."""
    from devbox.adapters.net import netlink, netns

    removed: list[str] = []
    record, ns_inode = procs.read_record(host), procs.host_ns_inode(host)
    for what in ("service", "sshd", "dockerd", lab_host_dhcp.WHAT):
        proc = procs.recorded(record, what)
        if procs.stop(proc, ns_inode, procs.GRACE.get(what, 10)):
            removed.append(f"{what} of {host.name} (pid {proc.pid if proc else '?'})")
    left = procs.sweep(ns_inode)
    if (trusted := lab_host_registry.remove_trust(record)) is not None:
        removed.append(f"CA for {trusted} in the engine's certs.d")
    removed += [f"process {pid} in {host.netns}" for pid in left]
    if netns.exists(host.lab) and netlink.delete_link(host.port, netns.named_path(host.lab)):
        removed.append(f"veth {host.port}")
    if netns.exists(host.netns):
        netns.remove(host.netns)
        removed.append(f"netns {host.netns}")
    if host.dir.exists():
        _remove_folder(host)
        removed.append(f"folder {host.dir}")
    log.write(f"lab host {host.name} removed: " + (", ".join(removed) or "nothing"))
    return removed


def down(cfg: Config) -> list[str]:
    """Remove every simulated host of the lab (before ``lab.down`` removes the lab)."""
    log = OpLog(Layout(cfg.root).host_log)
    removed: list[str] = []
    for host in reversed(existing(cfg)):
        removed += remove_host(cfg, host, log)
    hosts_dir = _hosts_dir(cfg)
    if hosts_dir.is_dir() and not any(hosts_dir.iterdir()):
        hosts_dir.rmdir()
    return removed


def status(cfg: Config) -> list[HostStatus]:
    from devbox.adapters.host import unixsock
    from devbox.adapters.net import netns

    out = []
    for h in existing(cfg):
        record, ns_inode = procs.read_record(h), procs.host_ns_inode(h)
        dockerd, sshd, service = (procs.recorded(record, w) for w in ("dockerd", "sshd", "service"))
        out.append(
            HostStatus(
                name=h.name,
                index=h.index,
                netns=h.netns,
                netns_present=netns.exists(h.netns),
                uplink=h.uplink,
                mac=h.mac,
                address=str(record.get("address") or ""),
                docker_host=h.docker_host,
                dockerd_pid=dockerd.pid if dockerd else None,
                dockerd_alive=procs.alive(dockerd, ns_inode)
                and unixsock.http_status(h.docker_socket, "/_ping") == 200,
                sshd_pid=sshd.pid if sshd else None,
                sshd_alive=procs.alive(sshd, ns_inode),
                service_socket=str(h.service_socket),
                service_pid=service.pid if service else None,
                service_alive=procs.alive(service, ns_inode)
                and unixsock.connects(h.service_socket),
                root=str(h.root),
                authorized_keys=str(h.authorized_keys),
            )
        )
    return out
