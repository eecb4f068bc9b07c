"""The lab LAN: a network namespace with dnsmasq, joined to the host by a veth pair.

``up`` is idempotent (it only makes what is missing and restarts a dead dnsmasq), ``down``
removes exactly what ``up`` made: the dnsmasq process (by its pid file), the host shim, the
veth pair and the namespace. The lease file stays, so known names get their addresses back.
"""

from __future__ import annotations

import json
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path

from devbox.config import Config
from devbox.errors import NotReadyError, OperationFailed, UserError
from devbox.model.checks import Check
from devbox.model.lab_plan import ULA_PREFIXLEN, DnsmasqLease, LabPlan, parse_leases
from devbox.model.lab_plan import plan as lab_plan
from devbox.model.record import Record
from devbox.oplog import OpLog
from devbox.paths import Layout
from devbox.steps import JobSteps, Reporter, StepContext, bind, run_steps
from devbox.waits import poll, wait_until


@dataclass
class LabStatus(Record):
    name: str
    up: bool
    uplink: str
    uplink_present: bool
    shim: str
    shim_address: str
    subnet: str
    gateway: str
    range: str
    dnsmasq_pid: int | None
    dnsmasq_alive: bool
    ping_check: bool
    lease_file: str
    leases: list[DnsmasqLease] = field(default_factory=list)
    ipv6_prefix: str = ""  # the ULA prefix the lab advertises ("": none, no IPv6 here)
    shim_ipv6: str = ""  # the shim's fixed address in it (P::2/64)


def plan(cfg: Config, vlans: tuple[int, ...] = ()) -> LabPlan:
    """The lab as the settings describe it (:func:`devbox.model.lab_plan.plan`); on a kernel
    without IPv6, without its IPv6 prefix (no address, no router advertisements)."""
    from devbox.adapters.net import addresses6

    p = lab_plan(cfg, vlans)
    return p if addresses6.kernel_has_ipv6() else p.without_ipv6()


def _log(cfg: Config) -> OpLog:
    return OpLog(Layout(cfg.root).host_log)


# --- dnsmasq process -----------------------------------------------------------------------


def _read_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _netns_inode(path: Path) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def dnsmasq_pid(p: LabPlan) -> int | None:
    """PID from the lab's pid file, only if that process is dnsmasq inside the lab netns."""
    from devbox.adapters.net import netns

    pid = _read_pid(p.pid_file)
    if pid is None:
        return None
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None
    if comm != "dnsmasq":
        return None
    ns = _netns_inode(netns.named_path(p.name))
    if ns is None or _netns_inode(netns.pid_path(pid)) != ns:
        return None
    return pid


def _start_dnsmasq(p: LabPlan, log: OpLog) -> int:
    from devbox.adapters import templates
    from devbox.adapters.host import process
    from devbox.adapters.net import netns

    binary = process.require(p.dnsmasq, "dnsmasq-base")
    p.dir.mkdir(parents=True, exist_ok=True)
    p.conf_file.write_text(templates.render("dnsmasq.conf.j2", p.template_context()))
    p.pid_file.unlink(missing_ok=True)
    p.lease_file.touch(exist_ok=True)
    # dnsmasq daemonizes; its first process exits only after the daemon has started (or failed)
    process.run(
        [binary, f"--conf-file={p.conf_file}"],
        log=log,
        timeout=30,
        preexec=netns.preexec(netns.named_path(p.name)),
    )
    return wait_until(
        lambda: dnsmasq_pid(p),
        5.0,
        0.05,
        "dnsmasq's pid file",
        error=lambda: OperationFailed(
            "dnsmasq started but wrote no pid file", hint=f"see {p.log_file}"
        ),
    )


def _exited(pid: int) -> bool:
    """Whether ``pid`` is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1].startswith("Z")
    except OSError:
        return True


def _stop_pid(pid: int, timeout: float = 5.0) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    if poll(lambda: _exited(pid), timeout, 0.05):
        return
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return


def _stop_dnsmasq(p: LabPlan) -> None:
    pid = dnsmasq_pid(p)
    if pid is not None:
        _stop_pid(pid)
    p.pid_file.unlink(missing_ok=True)


def _no_forwarding() -> None:
    """(Run inside the lab netns.) Turn IPv4/IPv6 forwarding off."""
    for path in ("/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv6/conf/all/forwarding"):
        try:
            Path(path).write_text("0\n")
        except FileNotFoundError:
            continue


# --- up / down / status --------------------------------------------------------------------


@dataclass
class LabJob:
    """What the steps of one ``lab up`` share: the lab's plan, its namespace and the log."""

    plan: LabPlan
    log: OpLog
    ns_path: Path


def check_subnet(job: LabJob, ctx: StepContext) -> None:
    """Before anything is made: the lab's subnets are not a network this host uses already
    (another lab, a LAN, a VPN): the host would send that network's traffic to one of them."""
    from devbox.adapters.net import host_routes
    from devbox.model.lab_plan import subnet_clash

    clash = subnet_clash(job.plan, host_routes.ipv4_networks())
    if clash is not None:
        raise UserError(
            clash,
            hint="pick a free private /24 with lab.subnet (DEVBOX_LAB_SUBNET), or take the "
            "other lab down first (devbox common lab down, with its settings)",
        )


def make_netns(job: LabJob, ctx: StepContext) -> None:
    from devbox.adapters.net import netns

    p = job.plan
    if netns.exists(p.name):
        ctx.skip("exists")
    netns.create(p.name)
    ctx.undo(f"remove netns {p.name}", lambda: netns.remove(p.name))


def make_veth(job: LabJob, ctx: StepContext) -> None:
    from devbox.adapters.net import netlink

    p = job.plan
    host = netlink.get_link(p.uplink)
    if host is not None:
        if host.kind != "veth":
            raise OperationFailed(
                f"lab.uplink {p.uplink} exists and is not a veth (it is "
                f"{host.kind or 'a physical NIC'})",
                hint="set lab.uplink to an unused interface name",
            )
        if netlink.get_link(p.ns_ifname, job.ns_path) is not None:
            if not host.up:
                netlink.set_up(p.uplink)
            ctx.skip("exists")
        netlink.delete_link(p.uplink)  # half a pair from an interrupted run
    netlink.create_veth(p.uplink, p.ns_ifname, p.name)
    ctx.undo(f"delete veth {p.uplink}", lambda: netlink.discard(p.uplink))


def address_ns(job: LabJob, ctx: StepContext) -> None:
    from devbox.adapters.net import addresses6, netlink, netns

    p, ns_path = job.plan, job.ns_path
    # the lab never routes: no forwarding inside its namespace, whatever it inherited
    netns.run_in(ns_path, _no_forwarding)
    # the lab's server is the LAN's router: it takes no router advertisement (a tenant's)
    addresses6.configure_lab_link(p.ns_ifname, addresses6.NO_RA, ns_path)
    addresses6.drop_autoconf(p.ns_ifname, ns_path)
    netlink.add_address(p.ns_ifname, p.gateway, p.prefixlen, ns_path)
    if p.ipv6_gateway:  # the prefix dnsmasq advertises is the one of an address it has
        addresses6.add_address_nodad(p.ns_ifname, p.ipv6_gateway, ULA_PREFIXLEN, ns_path)
    for seg in p.vlans:
        if netlink.get_link(seg.interface, ns_path) is None:
            netlink.create_vlan(p.ns_ifname, seg.interface, seg.vid, ns_path)
        addresses6.configure_lab_link(seg.interface, addresses6.NO_RA, ns_path)
        netlink.add_address(seg.interface, seg.gateway, int(seg.subnet.split("/")[1]), ns_path)
        if seg.ipv6_gateway:
            addresses6.add_address_nodad(seg.interface, seg.ipv6_gateway, ULA_PREFIXLEN, ns_path)


def make_shim(job: LabJob, ctx: StepContext) -> None:
    """The host's side of the lab: the shim (S.2, P::2) and the uplink (no address). Neither
    takes a router advertisement: a container's root can send one (CAP_NET_RAW), and the host
    must never get an address or a route from a tenant."""
    from devbox.adapters.net import addresses6, netlink

    p = job.plan
    addresses6.configure_lab_link(p.uplink, addresses6.IPV6_OFF)
    shim = netlink.get_link(p.shim)
    if shim is None:
        netlink.create_macvlan(p.uplink, p.shim)
        ctx.undo(f"delete shim {p.shim}", lambda: netlink.discard(p.shim))
        addresses6.configure_lab_link(p.shim, addresses6.NO_RA)  # before it is up
        netlink.set_up(p.shim)
    else:
        addresses6.configure_lab_link(p.shim, addresses6.NO_RA)
        addresses6.drop_autoconf(p.shim)  # a shim made before the lab refused them
        if not shim.up:
            netlink.set_up(p.shim)
    netlink.add_address(p.shim, p.shim_address, p.prefixlen)
    if p.ipv6_shim_address:
        addresses6.add_address_nodad(p.shim, p.ipv6_shim_address, ULA_PREFIXLEN)


def start_dnsmasq(job: LabJob, ctx: StepContext) -> None:
    p = job.plan
    pid = dnsmasq_pid(p)
    if pid is not None:
        ctx.skip(f"running (pid {pid})")
    pid = _start_dnsmasq(p, job.log)
    ctx.info(f"dnsmasq pid {pid}")
    ctx.undo(f"stop dnsmasq (pid {pid})", lambda: _stop_dnsmasq(p))


def save_state(job: LabJob, ctx: StepContext) -> None:
    p = job.plan
    p.state_file.write_text(
        json.dumps(
            {
                "name": p.name,
                "uplink": p.uplink,
                "shim": p.shim,
                "subnet": p.subnet,
                "vlans": [s.vid for s in p.vlans],
            },
            indent=2,
        )
        + "\n"
    )


# lab up, step by step; the names are what the log, the progress display and the fault
# suite's kill points see
STEPS: JobSteps[LabJob] = [
    ("subnet free", check_subnet),
    ("network namespace", make_netns),
    ("veth uplink", make_veth),
    ("lab address", address_ns),
    ("host shim", make_shim),
    ("dnsmasq", start_dnsmasq),
    ("state", save_state),
]


def up(cfg: Config, vlans: tuple[int, ...] = (), reporter: Reporter | None = None) -> LabStatus:
    """Bring the lab up (idempotent). With ``vlans``, add tagged segments (needs 802.1Q)."""
    from devbox.adapters.host import process
    from devbox.adapters.host.kernel import kernel_has
    from devbox.adapters.net import netlink, netns
    from devbox.model import lab_hosts_plan

    p = plan(cfg, vlans)
    if netns.exists(p.name) and netlink.get_link(
        lab_hosts_plan.BRIDGE_IFNAME, netns.named_path(p.name)
    ):
        p = lab_hosts_plan.bridged(p)  # a lab with simulated hosts is served on its bridge
    if vlans and not kernel_has("VLAN_8021Q"):
        raise NotReadyError(
            f"lab VLAN {', '.join(str(v) for v in vlans)}: this kernel has no 802.1Q VLAN "
            "support (CONFIG_VLAN_8021Q)",
            hint="modprobe 8021q, or use a kernel built with CONFIG_VLAN_8021Q; "
            "the untagged lab works without it",
        )
    process.require(p.dnsmasq, "dnsmasq-base")
    log = _log(cfg)
    job = LabJob(p, log, netns.named_path(p.name))
    run_steps(f"lab up {p.name}", bind(job, STEPS), log, reporter)
    return status(cfg)


def down(cfg: Config) -> list[str]:
    """Remove the lab's dnsmasq, shim, veth and namespace. Returns what was removed."""
    from devbox.adapters.net import netlink, netns

    p = plan(cfg)
    log = _log(cfg)
    removed: list[str] = []
    pid = dnsmasq_pid(p)
    if pid is not None:
        _stop_pid(pid)
        removed.append(f"dnsmasq (pid {pid})")
    p.pid_file.unlink(missing_ok=True)
    shim = netlink.get_link(p.shim)
    if shim is not None and shim.kind == "macvlan":
        netlink.delete_link(p.shim)
        removed.append(f"shim {p.shim}")
    uplink = netlink.get_link(p.uplink)
    if uplink is not None and uplink.kind == "veth":
        netlink.delete_link(p.uplink)
        removed.append(f"veth {p.uplink}")
    if netns.exists(p.name):
        netns.remove(p.name)
        removed.append(f"netns {p.name}")
    p.state_file.unlink(missing_ok=True)
    log.write(f"lab down {p.name}: removed " + (", ".join(removed) or "nothing"))
    return removed


def status(cfg: Config) -> LabStatus:
    from devbox.adapters.net import netlink, netns

    p = plan(cfg)
    pid = dnsmasq_pid(p)
    pid_any = _read_pid(p.pid_file) if pid is None else pid
    try:
        leases = parse_leases(p.lease_file.read_text())
    except OSError:
        leases = []
    uplink = netlink.get_link(p.uplink)
    return LabStatus(
        name=p.name,
        up=netns.exists(p.name) and uplink is not None and pid is not None,
        uplink=p.uplink,
        uplink_present=uplink is not None,
        shim=p.shim,
        shim_address=f"{p.shim_address}/{p.prefixlen}",
        subnet=p.subnet,
        gateway=p.gateway,
        range=f"{p.range_start}-{p.range_end}",
        dnsmasq_pid=pid_any,
        dnsmasq_alive=pid is not None,
        ping_check=p.ping_check,
        lease_file=str(p.lease_file),
        leases=leases,
        ipv6_prefix=p.ipv6_prefix,
        shim_ipv6=f"{p.ipv6_shim_address}/{ULA_PREFIXLEN}" if p.ipv6_shim_address else "",
    )


def is_up(cfg: Config) -> bool:
    from devbox.adapters.net import netlink, netns

    p = plan(cfg)
    return (
        netns.exists(p.name)
        and netlink.get_link(p.uplink) is not None
        and dnsmasq_pid(p) is not None
    )


def check_parent(cfg: Config) -> Check:
    """Doctor check: the configured parent exists and is up, or (no parent set) the lab is up."""
    from devbox.adapters.net import netlink

    parent = cfg.text("parent")
    if parent:
        try:
            link = netlink.get_link(parent)
        except Exception as err:  # noqa: BLE001 - any failure is a failed check
            return Check("LAN parent", False, f"{parent}: {err}", "run devbox as root")
        if link is None:
            return Check(
                "LAN parent",
                False,
                f"interface {parent} does not exist",
                "set 'parent' (DEVBOX_PARENT) to an existing NIC, or leave it empty "
                "and run 'devbox common lab up'",
            )
        if not link.up:
            return Check(
                "LAN parent",
                False,
                f"interface {parent} is down",
                f"bring {parent} up, or choose another 'parent'",
            )
        return Check("LAN parent", True, f"{parent} is up")
    try:
        st = status(cfg)
    except Exception as err:  # noqa: BLE001
        return Check(
            "LAN parent",
            False,
            f"lab state unreadable: {err}",
            "run 'devbox common lab up' as root",
        )
    if st.up:
        return Check(
            "LAN parent",
            True,
            f"lab LAN {st.name} is up (uplink {st.uplink}, dnsmasq pid {st.dnsmasq_pid})",
        )
    missing = "dnsmasq not running" if st.uplink_present else f"uplink {st.uplink} missing"
    return Check(
        "LAN parent",
        False,
        f"no 'parent' set and the lab LAN is down ({missing})",
        "run 'devbox common lab up', or set 'parent' to your LAN NIC",
    )
