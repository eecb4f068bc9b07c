"""One LAN interface of a container: made in its netns, addressed (static or DHCP), released."""

from __future__ import annotations

import errno
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict, Unpack

from devbox.config import Config
from devbox.errors import DevboxError, NotReadyError, OperationFailed, UserError
from devbox.model import macs
from devbox.model.lab_plan import check_ifname, check_vlan_id, vlan_ifname
from devbox.model.leases import NicRecord, NicSpec, NicState, parse_static
from devbox.oplog import OpLog
from devbox.paths import Layout
from devbox.state.lease_store import LeaseStore
from devbox.steps import Reporter, Step, StepContext, run_steps

if TYPE_CHECKING:
    from devbox.adapters.docker.net import ContainerFacts
    from devbox.adapters.net.dhcp import DhcpSession, LeaseInfo


STALE_WAIT = 5.0  # seconds to wait for an old interface with our MAC/name to go away


def store(cfg: Config) -> LeaseStore:
    layout = Layout(cfg.root)
    return LeaseStore(layout.leases, layout.locks)


def op_log(cfg: Config, container: str) -> OpLog:
    """The log of ``container``'s operations (``<root>/logs/<name>.log``)."""
    return OpLog(Layout(cfg.root).container_log(container))


class NicOptions(TypedDict, total=False):
    """What a caller may say about a container's LAN interface (``net attach``'s flags); one
    left out or None takes its default (the settings, the MAC derived from the name, DHCP)."""

    parent: str | None
    vlan: int | None
    ifname: str | None
    mac: str | None
    ip: str | None
    gateway: str | None
    dhcp: bool | None
    mtu: int | None


def build_spec(cfg: Config, container: str, **opts: Unpack[NicOptions]) -> NicSpec:
    """Validate attach options into a :class:`NicSpec` (no I/O)."""
    from devbox.model.lab_plan import default_parent

    ip, vlan, mtu, mac = opts.get("ip"), opts.get("vlan"), opts.get("mtu"), opts.get("mac")
    if ip and opts.get("dhcp"):
        raise UserError("--ip and --dhcp exclude each other", hint="choose one")
    if opts.get("gateway") and not ip:
        raise UserError("--gateway needs --ip (DHCP brings its own gateway)")
    if vlan is not None:
        check_vlan_id(vlan)
    if mtu is not None and not 68 <= mtu <= 65535:
        raise UserError(f"--mtu {mtu} is out of range (68-65535)")
    name = check_ifname(opts.get("ifname") or cfg.text("ifname"), "--ifname")
    par = check_ifname(opts.get("parent") or default_parent(cfg), "--parent")
    the_mac = macs.parse_mac(mac) if mac else macs.derive_mac(container)
    if ip:
        addr, prefix, gw = parse_static(ip, opts.get("gateway"))
        return NicSpec(
            container=container,
            ifname=name,
            parent=par,
            mac=the_mac,
            mode="static",
            vlan=vlan,
            ip=addr,
            prefixlen=prefix,
            gateway=gw,
            mtu=mtu,
        )
    return NicSpec(
        container=container, ifname=name, parent=par, mac=the_mac, mode="dhcp", vlan=vlan, mtu=mtu
    )


def check_parent(cfg: Config, parent: str) -> int:
    """The parent's MTU; a clear error when it is missing or down (ioctls, no netlink
    session: every attach checks its parent)."""
    from devbox.adapters.net import netlink

    link = netlink.brief(parent)
    is_lab = parent == cfg.text("lab.uplink")
    if link is None:
        raise NotReadyError(
            f"parent interface {parent} does not exist",
            hint="bring the lab LAN up with 'devbox common lab up'"
            if is_lab
            else "set --parent/'parent' to an existing NIC (ip link) or leave it empty for the lab",
        )
    if not link.up:
        raise NotReadyError(
            f"parent interface {parent} is down",
            hint="run 'devbox common lab up'"
            if is_lab
            else f"bring it up first (ip link set {parent} up)",
        )
    return link.mtu


def _lower_for(spec: NicSpec, ctx: StepContext | None) -> str:
    """The device the macvlan hangs off: the parent, or its shared 802.1Q sub-interface."""
    from devbox.adapters.host.kernel import kernel_has
    from devbox.adapters.net import netlink

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
            hint="modprobe 8021q, or use a kernel built with CONFIG_VLAN_8021Q",
        )
    netlink.create_vlan(spec.parent, name, spec.vlan)
    if ctx is not None:
        ctx.undo(f"delete VLAN interface {name}", lambda: netlink.discard(name))
    return name


def _clean_stale_host(lower: str, mac: str, log: OpLog) -> None:
    """Delete host-side macvlans on ``lower`` that carry ``mac`` (left by a crashed attach)."""
    from devbox.adapters.net import netlink

    lower_link = netlink.get_link(lower)
    if lower_link is None:
        return
    for li in netlink.links():
        if (
            li.kind == "macvlan"
            and li.mac == mac
            and li.link == lower_link.index
            and li.name.startswith("dbx")
        ):
            log.write(f"removing stale interface {li.name} with MAC {mac}")
            netlink.delete_link(li.name)


def _plumb_link(
    cfg: Config,
    spec: NicSpec,
    facts: ContainerFacts,
    ctx: StepContext,
    log: OpLog,
    parent_mtu: int | None = None,
    ns_fd: int | None = None,
) -> None:
    """Macvlan on the parent (or its VLAN) made in the container's netns (``ns_fd``, opened
    by the caller from the PID Docker gave; else by that PID), renamed, MTU and MAC set, up.
    A stale devbox interface of the same name in the container
    is replaced; while an old interface still holds the MAC (the kernel tears a dead
    container's netns down asynchronously) it waits with a bound, then cleans up what it can
    see in the host and tries once more."""
    from devbox.adapters.net import container_link, netlink, netns

    mtu = spec.mtu or parent_mtu or check_parent(cfg, spec.parent)
    lower = _lower_for(spec, ctx)
    ns_path: Path | int = netns.pid_path(facts.pid) if ns_fd is None else ns_fd

    def stale_ok(info: netlink.LinkInfo) -> bool:
        if info.kind != "macvlan":
            return False
        log.write(f"replacing stale {spec.ifname} ({info.mac}) in {spec.container}")
        return True

    for attempt in (1, 2):
        tmp = "dbx" + secrets.token_hex(5)
        container_link.create_macvlan_in_pid(lower, tmp, facts.pid, spec.mac, mtu, ns_fd)

        def undo_inside(tmp: str = tmp) -> None:
            if not delete_quiet(spec.ifname, ns_path):
                delete_quiet(tmp, ns_path)

        try:
            container_link.place_in_netns(ns_path, tmp, spec.ifname, STALE_WAIT, stale_ok)
        except netlink.NetlinkFailed as err:
            undo_inside()
            if err.code == errno.EEXIST and "not made by devbox" in err.message:
                raise UserError(
                    f"container {spec.container} already has an interface "
                    f"{spec.ifname} not made by devbox",
                    hint="choose another --ifname",
                ) from err
            if err.code not in netlink.BUSY_ERRNOS:
                raise
            if attempt == 2:
                raise OperationFailed(
                    f"MAC {spec.mac} is still in use on {lower} after {2 * STALE_WAIT:g}s",
                    hint="another interface holds this MAC; remove it or pass --mac",
                ) from err
            _clean_stale_host(lower, spec.mac, log)
            continue
        except BaseException:
            undo_inside()
            raise
        ctx.undo(f"delete {spec.ifname} in {spec.container}", undo_inside)
        return


def delete_quiet(name: str, ns_path: Path | int) -> bool:
    """Delete interface ``name`` in ``ns_path`` (or the open netns fd); False when it was not
    there or could not go."""
    from devbox.adapters.net import netlink

    try:
        return netlink.delete_link(name, ns_path)
    except DevboxError:
        return False


def _configure_static(spec: NicSpec, facts: ContainerFacts, ns_fd: int | None = None) -> None:
    from devbox.adapters.net import arp, container_link, netns

    assert spec.ip is not None and spec.prefixlen is not None
    ns_path: Path | int = netns.pid_path(facts.pid) if ns_fd is None else ns_fd

    def work() -> str | None:
        owner = arp.probe(spec.ifname, spec.mac, spec.ip or "", timeout=1.0)
        if owner is not None:
            return owner
        container_link.set_address(spec.ifname, spec.ip or "", spec.prefixlen or 0, spec.gateway)
        arp.announce(spec.ifname, spec.mac, spec.ip or "")
        return None

    owner = netns.run_in(ns_path, work)
    if owner is not None:
        raise OperationFailed(
            f"address {spec.ip} is already in use on the LAN (MAC {owner})",
            hint="choose a free address, or use --dhcp",
        )


def _hostname(facts: ContainerFacts) -> str:
    host = facts.hostname or facts.name
    return host if host and not facts.id.startswith(host) else facts.name


def new_session(
    cfg: Config,
    rec: NicRecord,
    pid: int,
    *,
    on_lease: object = None,
    release_only: bool = False,
    netns_path: Path | None = None,
) -> DhcpSession:
    from devbox.adapters.net import dhcp, netns

    return dhcp.DhcpSession(
        netns=netns_path or netns.pid_path(pid),
        ifname=rec.ifname,
        mac=rec.mac,
        hostname=rec.hostname,
        client_id=rec.client_id.encode(),
        lease=rec.dhcp_lease,
        on_lease=on_lease,  # type: ignore[arg-type]
        container_root=None if netns_path else Path(f"/proc/{pid}/root"),
        release_only=release_only,
        name=f"dhcp {rec.key}",
    )


def apply_lease(rec: NicRecord, event: str, info: LeaseInfo | None) -> NicRecord:
    """Fold a DHCP client event into the record (pure)."""
    if info is None:
        rec.move(NicState.UNBOUND)
        return rec
    if event == "renewed":
        rec.renewals += 1
    rec.ip, rec.prefixlen, rec.gateway = info.ip, info.prefixlen, info.gateway
    rec.dns, rec.domain = list(info.dns), info.domain
    rec.obtained, rec.lease_time = info.obtained, info.lease_time
    rec.renewal_time, rec.rebinding_time = info.renewal_time, info.rebinding_time
    rec.server_id, rec.dhcp_lease = info.server_id, info.raw
    rec.move(NicState.BOUND)
    return rec


def persist_on_lease(st: LeaseStore, rec: NicRecord) -> object:
    """An ``on_lease`` callback that keeps ``rec`` on disk current (renewals, new address)
    while it is there: a record a detach deleted or is deleting is never written back."""

    def on_lease(event: str, info: LeaseInfo | None) -> None:
        def fold(current: NicRecord) -> NicRecord | None:
            if current.state == NicState.DETACHING:
                return None  # a detach marked it: its lease is the detach's now
            if (current.container_id, current.mac) != (rec.container_id, rec.mac):
                return None  # another attach's record under the key: not this session's
            return apply_lease(rec, event, info)

        st.update(rec.key, fold)

    return on_lease


def plumb(
    cfg: Config,
    spec: NicSpec,
    facts: ContainerFacts,
    *,
    previous: NicRecord | None = None,
    keep_session: bool = False,
    reporter: Reporter | None = None,
    log: OpLog | None = None,
    parent_mtu: int | None = None,
) -> tuple[NicRecord, DhcpSession | None]:
    """Plumb ``spec`` into the running container ``facts``; persist the record.

    With ``keep_session`` the DHCP client keeps running (the daemon owns it); otherwise it is
    stopped without a release once bound (the lease stays valid on the server and on disk).
    ``previous`` (same container) supplies a lease to re-request, so the same address comes
    back. The caller holds the container lock and the owner lock.
    """
    from devbox.adapters.net import netns

    st = store(cfg)
    log = log or op_log(cfg, spec.container)
    rec = NicRecord(
        container=spec.container,
        container_id=facts.id,
        ifname=spec.ifname,
        parent=spec.parent,
        mac=spec.mac,
        mode=spec.mode,
        hostname=_hostname(facts),
        client_id=macs.client_id(spec.container).decode(),
        vlan=spec.vlan,
        mtu=spec.mtu,
        ip=spec.ip,
        prefixlen=spec.prefixlen,
        gateway=spec.gateway,
        state=NicState.STATIC if spec.mode == "static" else NicState.BOUND,
        pid=facts.pid,
    )
    if previous is not None and previous.mode == "dhcp" and previous.mac == spec.mac:
        rec.dhcp_lease = previous.dhcp_lease
        rec.renewals = previous.renewals
    box: dict[str, DhcpSession] = {}
    # the container's namespace, held from the first step to the last (and their undos)
    ns_fd = netns.open_ns(netns.pid_path(facts.pid))

    def link(ctx: StepContext) -> None:
        _plumb_link(cfg, spec, facts, ctx, log, parent_mtu, ns_fd)

    def address(ctx: StepContext) -> None:
        if spec.mode == "static":
            _configure_static(spec, facts, ns_fd)
            ctx.info(f"static {spec.ip}/{spec.prefixlen}")
            return
        session = new_session(cfg, rec, facts.pid)
        box["session"] = session
        session.start()
        ctx.undo("stop DHCP client", lambda: session.stop(release=False))
        info = session.wait_bound(cfg.number("dhcp_timeout"))
        apply_lease(rec, "bound", info)
        ctx.info(f"DHCP {info.ip}/{info.prefixlen} from {info.server_id}")

    def save(ctx: StepContext) -> None:
        st.save(rec)

    try:
        run_steps(
            f"attach {spec.container} {spec.ifname}",
            [
                Step("interface", link),
                Step("address", address),
                Step("record", save),
            ],
            log,
            reporter,
        )
    finally:
        os.close(ns_fd)
    session = box.get("session")
    if session is not None:
        if keep_session:
            session.on_lease = persist_on_lease(st, rec)  # type: ignore[assignment]
        else:
            session.stop(release=False)
            session = None
    return rec, session


def interface_matches(rec: NicRecord, pid: int) -> bool:
    from devbox.adapters.net import netlink, netns

    try:
        link = netlink.get_link(rec.ifname, netns.pid_path(pid))
    except DevboxError:
        return False
    return link is not None and link.mac == rec.mac


def release_offline(cfg: Config, rec: NicRecord, log: OpLog) -> bool:
    """Send DHCPRELEASE for a container that is gone: from a throw-away netns holding a
    macvlan with the record's MAC on the record's parent. False when it could not be sent."""
    from devbox.adapters.net import netlink, netns

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
        netlink.retry_busy(
            lambda: netlink.rename_up(tmp, rec.ifname, netns.named_path(ns_name)), STALE_WAIT
        )
        session = new_session(cfg, rec, 0, release_only=True, netns_path=netns.named_path(ns_name))
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
