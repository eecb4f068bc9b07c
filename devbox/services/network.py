"""Container LAN interfaces (the pipework replacement): attach, detach, show.

``attach`` creates a macvlan (bridge mode) on the parent in the host, moves it into the
container's netns by PID, renames it, sets MTU and MAC, brings it up, then gives it an address:
static (after an ARP probe) or from DHCP (pyroute2's client, run from the host inside the
container's netns). What it did is persisted under ``<root>/leases/`` so the daemon can keep
the lease and re-plumb the container after every restart. Any failure undoes what was made.
"""

from __future__ import annotations

import errno
import os
import secrets
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from devbox import macs
from devbox.config import Config
from devbox.errors import DevboxError, NotReadyError, OperationFailed, UserError
from devbox.labplan import check_ifname, check_vlan_id, vlan_ifname
from devbox.leases import NicRecord, NicSpec, NicState, parse_static
from devbox.leasestore import LeaseStore
from devbox.oplog import OpLog
from devbox.paths import Layout
from devbox.steps import Reporter, Step, StepContext, run_steps

if TYPE_CHECKING:
    from devbox.adapters.dhcp import DhcpSession, LeaseInfo
    from devbox.adapters.docker_net import ContainerFacts

STALE_WAIT = 5.0  # seconds to wait for an old interface with our MAC/name to go away


@dataclass(frozen=True)
class Attachment:
    """One container LAN interface as devbox knows it (what ``net show`` prints)."""

    container: str
    ifname: str
    parent: str
    vlan: int | None
    mac: str
    mode: str  # "dhcp" or "static"
    ip: str | None
    prefixlen: int | None
    gateway: str | None
    lease_expiry: float | None  # epoch seconds; None for static or infinite
    state: str  # bound / static / stopped / missing / detaching / unbound / released
    hostname: str = ""

    @property
    def cidr(self) -> str | None:
        return f"{self.ip}/{self.prefixlen}" if self.ip else None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def store(cfg: Config) -> LeaseStore:
    layout = Layout(cfg.root)
    return LeaseStore(layout.leases, layout.locks)


def _log(cfg: Config, container: str) -> OpLog:
    return OpLog(Layout(cfg.root).container_log(container))


def _attachment(rec: NicRecord, state: str | None = None) -> Attachment:
    return Attachment(container=rec.container, ifname=rec.ifname, parent=rec.parent,
                      vlan=rec.vlan, mac=rec.mac, mode=rec.mode, ip=rec.ip,
                      prefixlen=rec.prefixlen, gateway=rec.gateway,
                      lease_expiry=rec.expires_at if rec.mode == "dhcp" else None,
                      state=state or rec.state, hostname=rec.hostname)


# --- validation (pure) ---------------------------------------------------------------------


def build_spec(cfg: Config, container: str, *, parent: str | None = None,
               vlan: int | None = None, ifname: str | None = None, mac: str | None = None,
               ip: str | None = None, gateway: str | None = None, dhcp: bool | None = None,
               mtu: int | None = None) -> NicSpec:
    """Validate attach options into a :class:`NicSpec` (no I/O)."""
    from devbox.services.lab import default_parent

    if ip and dhcp:
        raise UserError("--ip and --dhcp exclude each other", hint="choose one")
    if gateway and not ip:
        raise UserError("--gateway needs --ip (DHCP brings its own gateway)")
    if vlan is not None:
        check_vlan_id(vlan)
    if mtu is not None and not 68 <= mtu <= 65535:
        raise UserError(f"--mtu {mtu} is out of range (68-65535)")
    name = check_ifname(ifname or str(cfg["ifname"]), "--ifname")
    par = check_ifname(parent or default_parent(cfg), "--parent")
    the_mac = macs.parse_mac(mac) if mac else macs.derive_mac(container)
    if ip:
        addr, prefix, gw = parse_static(ip, gateway)
        return NicSpec(container=container, ifname=name, parent=par, mac=the_mac,
                       mode="static", vlan=vlan, ip=addr, prefixlen=prefix, gateway=gw, mtu=mtu)
    return NicSpec(container=container, ifname=name, parent=par, mac=the_mac, mode="dhcp",
                   vlan=vlan, mtu=mtu)


# --- plumbing ------------------------------------------------------------------------------


def _check_parent(cfg: Config, parent: str) -> int:
    """The parent's MTU; a clear error when it is missing or down."""
    from devbox.adapters import netlink

    link = netlink.get_link(parent)
    is_lab = parent == str(cfg["lab.uplink"])
    if link is None:
        raise NotReadyError(
            f"parent interface {parent} does not exist",
            hint="bring the lab LAN up with 'devbox common lab up'" if is_lab else
            "set --parent/'parent' to an existing NIC (ip link) or leave it empty for the lab")
    if not link.up:
        raise NotReadyError(f"parent interface {parent} is down",
                            hint="run 'devbox common lab up'" if is_lab else
                            f"bring it up first (ip link set {parent} up)")
    return link.mtu


def _lower_for(spec: NicSpec, ctx: StepContext | None) -> str:
    """The device the macvlan hangs off: the parent, or its shared 802.1Q sub-interface."""
    from devbox.adapters import netlink
    from devbox.services.doctor import kernel_has

    if spec.vlan is None:
        return spec.parent
    name = vlan_ifname(spec.parent, spec.vlan)
    existing = netlink.get_link(name)
    if existing is not None:
        if not existing.up:
            netlink.set_up(name)
        return name
    if not kernel_has("VLAN_8021Q"):
        raise NotReadyError(
            f"VLAN {spec.vlan}: this kernel has no 802.1Q VLAN support (CONFIG_VLAN_8021Q)",
            hint="modprobe 8021q, or use a kernel built with CONFIG_VLAN_8021Q")
    netlink.create_vlan(spec.parent, name, spec.vlan)
    if ctx is not None:
        ctx.undo(f"delete VLAN interface {name}", lambda: netlink.discard(name))
    return name


def _is_busy(err: BaseException) -> bool:
    from devbox.adapters.netlink import BUSY_ERRNOS, NetlinkFailed

    return isinstance(err, NetlinkFailed) and err.code in BUSY_ERRNOS


def _clean_stale_host(lower: str, mac: str, log: OpLog) -> None:
    """Delete host-side macvlans on ``lower`` that carry ``mac`` (left by a crashed attach)."""
    from devbox.adapters import netlink

    lower_link = netlink.get_link(lower)
    if lower_link is None:
        return
    for li in netlink.links():
        if li.kind == "macvlan" and li.mac == mac and li.link == lower_link.index \
                and li.name.startswith("dbx"):
            log.write(f"removing stale interface {li.name} with MAC {mac}")
            netlink.delete_link(li.name)


def _plumb_link(cfg: Config, spec: NicSpec, facts: ContainerFacts, ctx: StepContext,
                log: OpLog, parent_mtu: int | None = None) -> None:
    """Macvlan on the parent (or its VLAN) in the host, moved into the container by PID,
    renamed, MTU and MAC set, up. A stale devbox interface of the same name in the container
    is replaced; while an old interface still holds the MAC (the kernel tears a dead
    container's netns down asynchronously) it waits with a bound, then cleans up what it can
    see in the host and tries once more."""
    from devbox.adapters import netlink, netns

    mtu = spec.mtu or parent_mtu or _check_parent(cfg, spec.parent)
    lower = _lower_for(spec, ctx)
    ns_path = netns.pid_path(facts.pid)

    def stale_ok(info: netlink.LinkInfo) -> bool:
        if info.kind != "macvlan":
            return False
        log.write(f"replacing stale {spec.ifname} ({info.mac}) in {spec.container}")
        return True

    for attempt in (1, 2):
        tmp = "dbx" + secrets.token_hex(5)
        netlink.create_macvlan_in_pid(lower, tmp, facts.pid, spec.mac, mtu)

        def undo_inside(tmp: str = tmp) -> None:
            if not _delete_quiet(spec.ifname, ns_path):
                _delete_quiet(tmp, ns_path)

        try:
            netlink.place_in_netns(ns_path, tmp, spec.ifname, STALE_WAIT, stale_ok)
        except netlink.NetlinkFailed as err:
            undo_inside()
            if err.code == errno.EEXIST and "not made by devbox" in err.message:
                raise UserError(f"container {spec.container} already has an interface "
                                f"{spec.ifname} not made by devbox",
                                hint="choose another --ifname") from err
            if not _is_busy(err) or attempt == 2:
                if _is_busy(err):
                    raise OperationFailed(
                        f"MAC {spec.mac} is still in use on {lower} after "
                        f"{2 * STALE_WAIT:g}s",
                        hint="another interface holds this MAC; remove it or pass "
                             "--mac") from err
                raise
            _clean_stale_host(lower, spec.mac, log)
            continue
        except BaseException:
            undo_inside()
            raise
        ctx.undo(f"delete {spec.ifname} in {spec.container}", undo_inside)
        return


def _delete_quiet(name: str, ns_path: Path) -> bool:
    from devbox.adapters import netlink

    try:
        return netlink.delete_link(name, ns_path)
    except DevboxError:
        return False


def _configure_static(spec: NicSpec, facts: ContainerFacts) -> None:
    from devbox.adapters import arp, netlink, netns

    assert spec.ip is not None and spec.prefixlen is not None
    ns_path = netns.pid_path(facts.pid)

    def work() -> str | None:
        owner = arp.probe(spec.ifname, spec.mac, spec.ip or "", timeout=1.0)
        if owner is not None:
            return owner
        from pyroute2 import IPRoute

        with IPRoute() as ipr:
            idx = ipr.link_lookup(ifname=spec.ifname)[0]
            netlink.call(f"add {spec.ip}/{spec.prefixlen}", lambda: ipr.addr(
                "replace", index=idx, address=spec.ip, prefixlen=spec.prefixlen))
            if spec.gateway:
                netlink.call(f"add default route via {spec.gateway}", lambda: ipr.route(
                    "replace", dst="0.0.0.0/0", gateway=spec.gateway, oif=idx))
        arp.announce(spec.ifname, spec.mac, spec.ip or "")
        return None

    owner = netns.run_in(ns_path, work)
    if owner is not None:
        raise OperationFailed(f"address {spec.ip} is already in use on the LAN (MAC {owner})",
                              hint="choose a free address, or use --dhcp")


def _hostname(facts: ContainerFacts) -> str:
    host = facts.hostname or facts.name
    return host if host and not facts.id.startswith(host) else facts.name


def new_session(cfg: Config, rec: NicRecord, pid: int, *,
                on_lease: object = None, release_only: bool = False,
                netns_path: Path | None = None) -> DhcpSession:
    from devbox.adapters import dhcp, netns

    return dhcp.DhcpSession(
        netns=netns_path or netns.pid_path(pid), ifname=rec.ifname, mac=rec.mac,
        hostname=rec.hostname, client_id=rec.client_id.encode(),
        lease=rec.dhcp_lease, on_lease=on_lease,  # type: ignore[arg-type]
        container_root=None if netns_path else Path(f"/proc/{pid}/root"),
        release_only=release_only, name=f"dhcp {rec.key}")


def apply_lease(rec: NicRecord, event: str, info: LeaseInfo | None) -> NicRecord:
    """Fold a DHCP client event into the record (pure)."""
    if info is None:
        rec.state = NicState.UNBOUND.value
        return rec
    if event == "renewed":
        rec.renewals += 1
    rec.ip, rec.prefixlen, rec.gateway = info.ip, info.prefixlen, info.gateway
    rec.dns, rec.domain = list(info.dns), info.domain
    rec.obtained, rec.lease_time = info.obtained, info.lease_time
    rec.renewal_time, rec.rebinding_time = info.renewal_time, info.rebinding_time
    rec.server_id, rec.dhcp_lease = info.server_id, info.raw
    rec.state = NicState.BOUND.value
    return rec


def persist_on_lease(st: LeaseStore, rec: NicRecord) -> object:
    """An ``on_lease`` callback that keeps ``rec`` on disk current (renewals, new address)."""

    def on_lease(event: str, info: LeaseInfo | None) -> None:
        current = st.load_key(rec.key)
        if current is not None and current.state == NicState.DETACHING.value:
            return
        apply_lease(rec, event, info)
        st.save(rec)

    return on_lease


def plumb(cfg: Config, spec: NicSpec, facts: ContainerFacts, *,
          previous: NicRecord | None = None, keep_session: bool = False,
          reporter: Reporter | None = None, log: OpLog | None = None,
          parent_mtu: int | None = None) -> tuple[NicRecord, DhcpSession | None]:
    """Plumb ``spec`` into the running container ``facts``; persist the record.

    With ``keep_session`` the DHCP client keeps running (the daemon owns it); otherwise it is
    stopped without a release once bound (the lease stays valid on the server and on disk).
    ``previous`` (same container) supplies a lease to re-request, so the same address comes
    back. The caller holds the container lock and the owner lock.
    """
    st = store(cfg)
    log = log or _log(cfg, spec.container)
    rec = NicRecord(
        container=spec.container, container_id=facts.id, ifname=spec.ifname,
        parent=spec.parent, mac=spec.mac, mode=spec.mode, hostname=_hostname(facts),
        client_id=macs.client_id(spec.container).decode(), vlan=spec.vlan, mtu=spec.mtu,
        ip=spec.ip, prefixlen=spec.prefixlen, gateway=spec.gateway,
        state=NicState.STATIC.value if spec.mode == "static" else NicState.BOUND.value,
        pid=facts.pid)
    if previous is not None and previous.mode == "dhcp" and previous.mac == spec.mac:
        rec.dhcp_lease = previous.dhcp_lease
        rec.renewals = previous.renewals
    box: dict[str, DhcpSession] = {}

    def link(ctx: StepContext) -> None:
        _plumb_link(cfg, spec, facts, ctx, log, parent_mtu)

    def address(ctx: StepContext) -> None:
        if spec.mode == "static":
            _configure_static(spec, facts)
            ctx.info(f"static {spec.ip}/{spec.prefixlen}")
            return
        session = new_session(cfg, rec, facts.pid)
        box["session"] = session
        session.start()
        ctx.undo("stop DHCP client", lambda: session.stop(release=False))
        info = session.wait_bound(float(cfg["dhcp_timeout"]))
        apply_lease(rec, "bound", info)
        ctx.info(f"DHCP {info.ip}/{info.prefixlen} from {info.server_id}")

    def save(ctx: StepContext) -> None:
        st.save(rec)

    run_steps(f"attach {spec.container} {spec.ifname}", [
        Step("interface", link), Step("address", address), Step("record", save),
    ], log, reporter)
    session = box.get("session")
    if session is not None:
        if keep_session:
            session.on_lease = persist_on_lease(st, rec)  # type: ignore[assignment]
        else:
            session.stop(release=False)
            session = None
    return rec, session


def _interface_matches(rec: NicRecord, pid: int) -> bool:
    from devbox.adapters import netlink, netns

    try:
        link = netlink.get_link(rec.ifname, netns.pid_path(pid))
    except DevboxError:
        return False
    return link is not None and link.mac == rec.mac


def attach(cfg: Config, container: str, *, parent: str | None = None, vlan: int | None = None,
           ifname: str | None = None, mac: str | None = None, ip: str | None = None,
           gateway: str | None = None, dhcp: bool | None = None, mtu: int | None = None,
           reporter: Reporter | None = None, log: OpLog | None = None) -> Attachment:
    """Give running container ``container`` a LAN interface (macvlan) with DHCP or static IP.

    Idempotent: when the container already has this interface plumbed by devbox with the same
    MAC, returns it as is. Works without the daemon (the lease is acquired here, persisted,
    and handed over to the daemon when one runs).
    """
    from devbox.adapters import docker_net

    spec = build_spec(cfg, container, parent=parent, vlan=vlan, ifname=ifname, mac=mac, ip=ip,
                      gateway=gateway, dhcp=dhcp, mtu=mtu)
    facts = docker_net.require_running(container)
    parent_mtu = _check_parent(cfg, spec.parent)
    if spec.parent == str(cfg["parent"]):
        ensure_shim(cfg)
    st = store(cfg)
    with st.container_lock(container):
        previous = st.load(container, spec.ifname)
        if previous is not None and previous.container_id != facts.id:
            previous = None
        if previous is not None and previous.pid == facts.pid \
                and previous.spec() == _comparable(spec, previous) \
                and previous.state != NicState.DETACHING.value \
                and _interface_matches(previous, facts.pid):
            return _attachment(previous)
        with st.owner(spec.key, timeout=10.0):
            rec, _ = plumb(cfg, spec, facts, previous=previous, reporter=reporter, log=log,
                           parent_mtu=parent_mtu)
    _notify_daemon(cfg)
    return _attachment(rec)


def _comparable(spec: NicSpec, rec: NicRecord) -> NicSpec:
    """``spec`` with the address fields a DHCP record fills in (so the two compare equal)."""
    if spec.mode == "dhcp":
        from dataclasses import replace

        return replace(spec, ip=rec.ip, prefixlen=rec.prefixlen, gateway=rec.gateway)
    return spec


def _notify_daemon(cfg: Config) -> None:
    from devbox.services import daemon

    pid = daemon.running_pid(cfg)
    if pid is not None:
        try:
            os.kill(pid, signal.SIGHUP)
        except ProcessLookupError:
            pass


def release_offline(cfg: Config, rec: NicRecord, log: OpLog) -> bool:
    """Send DHCPRELEASE for a container that is gone: from a throw-away netns holding a
    macvlan with the record's MAC on the record's parent. False when it could not be sent."""
    from devbox.adapters import netlink, netns

    if rec.mode != "dhcp" or not rec.dhcp_lease:
        return False
    lower = rec.parent if rec.vlan is None else vlan_ifname(rec.parent, rec.vlan)
    if netlink.get_link(lower) is None:
        return False
    ns_name = "dbxrel" + secrets.token_hex(4)
    tmp = "dbx" + secrets.token_hex(5)
    try:
        netns.create(ns_name)
        netlink.create_macvlan(lower, tmp, mac=rec.mac)
        try:
            netlink.move_to_netns(tmp, netns.named_path(ns_name))
        except BaseException:
            netlink.delete_link(tmp)
            raise
        deadline = time.monotonic() + STALE_WAIT
        while True:
            try:
                netlink.rename_up(tmp, rec.ifname, netns.named_path(ns_name))
                break
            except DevboxError as err:
                if not _is_busy(err) or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        session = new_session(cfg, rec, 0, release_only=True,
                              netns_path=netns.named_path(ns_name))
        session.start()
        session.stop(release=True)
        log.write(f"released {rec.ip} for {rec.key} (container gone)")
        return True
    except DevboxError as err:
        log.write(f"could not release {rec.key}: {err}")
        return False
    finally:
        netns.remove(ns_name)


def release_running(cfg: Config, rec: NicRecord, pid: int) -> None:
    session = new_session(cfg, rec, pid, release_only=True)
    session.start()
    session.stop(release=True)


def detach(cfg: Config, container: str, ifname: str | None = None,
           log: OpLog | None = None, missing_ok: bool = False) -> list[Attachment]:
    """Release the lease (DHCPRELEASE) and remove the interface; forget the record.

    ``missing_ok``: return [] instead of failing when there is nothing to detach (for undo
    and remove paths).
    """
    from devbox.adapters import docker_net, netns

    st = store(cfg)
    log = log or _log(cfg, container)
    with st.container_lock(container):
        records = st.for_container(container)
        if ifname is not None:
            records = [r for r in records if r.ifname == ifname]
        facts = docker_net.inspect(container)
        if not records:
            if missing_ok:
                return []
            if facts is None:
                raise UserError(f"no container named {container}")
            raise UserError(f"container {container} has no devbox LAN interface"
                            + (f" named {ifname}" if ifname else ""),
                            hint="see 'devbox common net show'")
        for rec in records:
            rec.state = NicState.DETACHING.value
            st.save(rec)
        _notify_daemon(cfg)
        out = []
        for rec in records:
            with st.owner(rec.key, timeout=15.0):
                running = facts is not None and facts.running and facts.id == rec.container_id
                if rec.mode == "dhcp" and rec.dhcp_lease:
                    if running and facts is not None and _interface_matches(rec, facts.pid):
                        release_running(cfg, rec, facts.pid)
                        log.write(f"released {rec.ip} on {rec.ifname}")
                    else:
                        release_offline(cfg, rec, log)
                if running and facts is not None:
                    _delete_quiet(rec.ifname, netns.pid_path(facts.pid))
                st.delete(rec.key)
                log.write(f"detached {rec.ifname} ({rec.mac})")
            out.append(_attachment(rec, "released"))
        return out


def live_state(rec: NicRecord, facts: ContainerFacts | None) -> str:
    if rec.state == NicState.DETACHING.value:
        return rec.state
    if facts is None or facts.id != rec.container_id:
        return "gone"
    if not facts.running:
        return NicState.STOPPED.value
    if not _interface_matches(rec, facts.pid):
        return "missing"
    if rec.mode == "dhcp" and rec.expires_at is not None and rec.expires_at < time.time():
        return "expired"
    return rec.state


def show(cfg: Config, container: str | None = None) -> list[Attachment]:
    """Every LAN interface devbox plumbed (or those of ``container``), with live state."""
    from devbox.adapters import docker_net

    records = store(cfg).all()
    if container is not None:
        records = [r for r in records if r.container == container]
        if not records and docker_net.inspect(container) is None:
            raise UserError(f"no container named {container}")
    cache: dict[str, ContainerFacts | None] = {}
    out = []
    for rec in records:
        if rec.container not in cache:
            cache[rec.container] = docker_net.inspect(rec.container)
        out.append(_attachment(rec, live_state(rec, cache[rec.container])))
    return out


def resolve_parent(cfg: Config, parent: str | None = None) -> str:
    """The parent an attach would use: ``parent``, else the setting, else the lab uplink."""
    from devbox.services.lab import default_parent

    return parent or default_parent(cfg)


def host_connector(cfg: Config, container: str) -> Callable[[str, int, float], socket.socket]:
    """A socket factory ``(host, port, timeout) -> socket`` reaching ``container``: a plain
    TCP connection through the host shim when there is one, else a socket created inside the
    container's netns. Failures raise OSError (as ``socket.create_connection`` does)."""
    from devbox.adapters import docker_net, netns

    direct: dict[str, bool] = {}  # decided once per address: callers retry in tight loops

    def connect(host: str, port: int, timeout: float) -> socket.socket:
        if host not in direct:
            direct[host] = reachable_directly(host)
        if direct[host]:
            return socket.create_connection((host, port), timeout=timeout)
        facts = docker_net.inspect(container)
        if facts is None or not facts.running:
            raise ConnectionRefusedError(f"container {container} is not running")
        try:
            return netns.connect_in_netns(facts.pid, host, port, timeout)
        except DevboxError as err:
            raise ConnectionError(err.message) from err

    return connect


def wait_attached(cfg: Config, container: str, timeout: float,
                  log: OpLog | None = None, ifname: str | None = None) -> Attachment:
    """Wait (bounded) until ``container``'s current run has its LAN interface with an address
    (the daemon re-plumbs on start). Raises OperationFailed after ``timeout`` seconds."""
    from devbox.adapters import docker_net

    name = ifname or str(cfg["ifname"])
    deadline = time.monotonic() + timeout
    last = "no record"
    while True:
        facts = docker_net.inspect(container)
        rec = store(cfg).load(container, name)
        if facts is None:
            raise UserError(f"no container named {container}")
        if rec is not None and facts.running and rec.container_id == facts.id \
                and rec.pid == facts.pid and rec.ip \
                and rec.state in (NicState.BOUND.value, NicState.STATIC.value) \
                and _interface_matches(rec, facts.pid):
            if log is not None:
                log.write(f"{container}: {name} {rec.ip}/{rec.prefixlen} ({rec.mac})")
            return _attachment(rec)
        last = "container not running" if not facts.running else (
            "no record" if rec is None else f"state {rec.state}, pid {rec.pid}/{facts.pid}")
        if time.monotonic() >= deadline:
            raise OperationFailed(f"{container} got no LAN address within {timeout:g}s ({last})",
                                  hint="is the devbox daemon running? (devbox common daemon); "
                                       "see <root>/logs/daemon.log")
        time.sleep(0.1)


def reachable_directly(ip: str) -> bool:
    """Whether the host reaches ``ip`` on the link of a devbox shim (a macvlan that is up), so
    plain sockets work: one route lookup in the kernel."""
    import ipaddress

    from devbox.adapters import netlink

    try:
        ipaddress.IPv4Address(ip)
    except ValueError:
        return False
    found = netlink.route_link(ip)
    if found is None:
        return False
    link, on_link = found
    return on_link and link.kind == "macvlan" and link.up


def connect(cfg: Config, container: str, port: int = 22, timeout: float = 5.0,
            ifname: str | None = None) -> socket.socket:
    """A connected TCP socket to ``container``'s LAN address: directly through the host shim
    when there is one, else created inside the container's netns. For paramiko's ``sock=``."""
    recs = [r for r in store(cfg).for_container(container)
            if r.ip and (ifname is None or r.ifname == ifname)]
    if not recs:
        raise UserError(f"container {container} has no LAN address",
                        hint=f"devbox common net attach {container}")
    ip = recs[0].ip or ""
    try:
        return host_connector(cfg, container)(ip, port, timeout)
    except OSError as err:
        raise OperationFailed(f"cannot connect to {container} at {ip}:{port}: "
                              f"{err.strerror or err}") from err


def ensure_shim(cfg: Config) -> str | None:
    """For a real parent with ``shim_address`` set: make sure the host-side macvlan shim exists
    with that address, so the host reaches its containers. Returns the shim name."""
    from devbox.adapters import netlink
    from devbox.labplan import shim_name

    parent = str(cfg["parent"])
    cidr = str(cfg["shim_address"])
    if not parent or not cidr or parent == str(cfg["lab.uplink"]):
        return None
    import ipaddress

    try:
        iface = ipaddress.IPv4Interface(cidr)
    except ValueError as err:
        raise UserError(f"shim_address {cidr}: {err}",
                        hint="set shim_address to a free address on the LAN, e.g. "
                             "192.168.1.250/24") from None
    name = shim_name(parent)
    if netlink.get_link(name) is None:
        _check_parent(cfg, parent)
        try:
            netlink.create_macvlan(parent, name, up=True)
        except DevboxError as err:
            if getattr(err, "code", 0) != errno.EEXIST:
                raise
    netlink.add_address(name, str(iface.ip), iface.network.prefixlen)
    return name
