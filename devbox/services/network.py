"""Container LAN interfaces (the pipework replacement): attach, detach, show.

``attach`` creates a macvlan (bridge mode) on the parent in the host, moves it into the
container's netns by PID, renames it, sets MTU and MAC, brings it up, then gives it an address:
static (after an ARP probe) or from DHCP (pyroute2's client, run from the host inside the
container's netns). What it did is persisted under ``<root>/leases/`` so the daemon can keep
the lease and re-plumb the container after every restart. Any failure undoes what was made.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Unpack

from devbox.config import Config
from devbox.errors import OperationFailed, UserError
from devbox.model.fieldcopy import copy_fields
from devbox.model.leases import NicRecord, NicSpec, NicState
from devbox.model.record import Record
from devbox.oplog import OpLog
from devbox.services.host_reach import ensure_shim
from devbox.services.nic import (
    NicOptions,
    build_spec,
    check_parent,
    delete_quiet,
    interface_matches,
    op_log,
    plumb,
    release_offline,
    release_running,
    store,
)
from devbox.state import daemon_requests
from devbox.steps import Reporter
from devbox.waits import poll, wait_until

if TYPE_CHECKING:
    from devbox.adapters.docker.net import ContainerFacts
    from devbox.state.lease_store import LeaseStore


@dataclass(frozen=True)
class Attachment(Record):
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
    state: str  # a NicState value: the record's, or what show sees (gone, missing, ...)
    hostname: str = ""
    ipv6: list[str] = field(default_factory=list)  # "addr/len", from the kernel (show)

    @property
    def cidr(self) -> str | None:
        return f"{self.ip}/{self.prefixlen}" if self.ip else None


def _attachment(
    rec: NicRecord, state: NicState | None = None, ipv6: list[str] | None = None
) -> Attachment:
    return copy_fields(
        Attachment,
        rec,
        lease_expiry=rec.expires_at if rec.mode == "dhcp" else None,
        state=(state or rec.state).value,
        ipv6=ipv6 or [],
    )


# --- plumbing ------------------------------------------------------------------------------


def attach(
    cfg: Config,
    container: str,
    *,
    reporter: Reporter | None = None,
    log: OpLog | None = None,
    **opts: Unpack[NicOptions],
) -> Attachment:
    """Give running container ``container`` a LAN interface (macvlan) with DHCP or static IP.

    Idempotent: when the container already has this interface plumbed by devbox with the same
    MAC, returns it as is. Works without the daemon (the lease is acquired here, persisted,
    and handed over to the daemon when one runs).
    """
    from devbox.adapters.docker import net

    spec = build_spec(cfg, container, **opts)
    facts = net.require_running(container)
    parent_mtu = check_parent(cfg, spec.parent)
    if spec.parent == cfg.text("parent"):
        ensure_shim(cfg)
    st = store(cfg)
    with st.container_lock(container):
        previous = st.load(container, spec.ifname)
        if previous is not None and previous.container_id != facts.id:
            previous = None
        if (
            previous is not None
            and previous.pid == facts.pid
            and previous.spec() == _comparable(spec, previous)
            and previous.state != NicState.DETACHING
            and interface_matches(previous, facts.pid)
        ):
            return _attachment(previous)
        with st.owner(spec.key, timeout=10.0):
            rec, _ = plumb(
                cfg,
                spec,
                facts,
                previous=previous,
                reporter=reporter,
                log=log,
                parent_mtu=parent_mtu,
            )
    _ask_daemon(cfg, daemon_requests.ADOPT, [container])
    return _attachment(rec)


def _comparable(spec: NicSpec, rec: NicRecord) -> NicSpec:
    """``spec`` with the address fields a DHCP record fills in (so the two compare equal)."""
    if spec.mode == "dhcp":
        from dataclasses import replace

        return replace(spec, ip=rec.ip, prefixlen=rec.prefixlen, gateway=rec.gateway)
    return spec


HANDOVER_SECONDS = 15.0  # how long a detach waits for the daemon to let go of a lease


ASK_AGAIN = 0.5  # seconds between requests to a daemon that has not let go of a lease yet


def _ask_daemon(cfg: Config, kind: str, names: list[str]) -> None:
    """Ask the daemon about just ``names`` (:mod:`devbox.state.daemon_requests`: a file each,
    then SIGUSR1): to let go of those leases (record keys, a detach's) or to take over those
    containers' leases (an attach's). A SIGHUP makes it reconcile every record with Docker, so
    N detaches or attaches at once (remove --clones-of, clone --count) cost N full passes. A
    daemon without a SIGUSR1 handler (an older one) gets a SIGHUP; one with neither yet
    (starting) gets nothing: a signal it does not catch would end it, and its first reconcile
    does what was asked. (A daemon from before ADOPT requests reads only the release inbox:
    an attach's lease waits for its timed pass, RECONCILE_EVERY, until it is restarted.)"""
    from devbox.adapters.host import procfs
    from devbox.paths import Layout
    from devbox.state import daemon_pid

    pid = daemon_pid.running_pid(cfg)
    if pid is None:
        return  # no daemon: nothing holds the lease but a command (waited for)
    order: tuple[int, ...] = (signal.SIGUSR1, signal.SIGHUP)
    try:
        for name in names:
            daemon_requests.ask(Layout(cfg.root), kind, name)
    except (OSError, ValueError):  # ValueError: not a plain file name
        order = (signal.SIGHUP,)  # no request made: a whole reconcile does it
    for signum in order:
        if procfs.catches(pid, signum):
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass
            return


def _handed_over(cfg: Config, st: LeaseStore, key: str) -> Callable[[], bool]:
    """A check (polled often: a free lease is one flock away) of whether the lease ``key`` is
    free to own now; the daemon is asked again every ASK_AGAIN seconds while it is not (one
    request sent while it was starting is lost). It lets go within milliseconds of a request:
    checking only every half second made each detach (remove, a make's undo) wait 0.5 s."""
    asked = [time.monotonic()]

    def free() -> bool:
        fd = st.try_owner(key)
        if fd is not None:
            os.close(fd)
            return True
        if time.monotonic() - asked[0] >= ASK_AGAIN:
            _ask_daemon(cfg, daemon_requests.RELEASE, [key])
            asked[0] = time.monotonic()
        return False

    return free


def detach(
    cfg: Config,
    container: str,
    ifname: str | None = None,
    log: OpLog | None = None,
    missing_ok: bool = False,
) -> list[Attachment]:
    """Release the lease (DHCPRELEASE) and remove the interface; forget the record.

    ``missing_ok``: return [] instead of failing when there is nothing to detach (for undo
    and remove paths).
    """
    from devbox.adapters.docker import net
    from devbox.adapters.net import netns

    st = store(cfg)
    log = log or op_log(cfg, container)
    with st.container_lock(container):
        records = st.for_container(container)
        if ifname is not None:
            records = [r for r in records if r.ifname == ifname]
        facts = net.inspect(container)
        if not records:
            if missing_ok:
                return []
            if facts is None:
                raise UserError(f"no container named {container}")
            raise UserError(
                f"container {container} has no devbox LAN interface"
                + (f" named {ifname}" if ifname else ""),
                hint="see 'devbox common net show'",
            )
        marked = []
        for rec in records:  # the owner's renewal may write it at the same time: one update
            now = st.update(rec.key, lambda cur: cur.move(NicState.DETACHING))
            marked.append(now if now is not None else rec)
        records = marked
        _ask_daemon(cfg, daemon_requests.RELEASE, [rec.key for rec in records])
        out = []
        for rec in records:
            # the daemon lets go of the lease when asked (asked again while it has not), bounded
            poll(_handed_over(cfg, st, rec.key), HANDOVER_SECONDS, 0.02)
            with st.owner(rec.key, timeout=HANDOVER_SECONDS):
                running = facts is not None and facts.running and facts.id == rec.container_id
                if rec.mode == "dhcp" and rec.dhcp_lease:
                    if running and facts is not None and interface_matches(rec, facts.pid):
                        release_running(cfg, rec, facts.pid)
                        log.write(f"released {rec.ip} on {rec.ifname}")
                    else:
                        release_offline(cfg, rec, log)
                if running and facts is not None:
                    delete_quiet(rec.ifname, netns.pid_path(facts.pid))
                st.delete(rec.key)
                log.write(f"detached {rec.ifname} ({rec.mac})")
            out.append(_attachment(rec, NicState.RELEASED))
        return out


def live_state(rec: NicRecord, facts: ContainerFacts | None) -> NicState:
    """What ``net show`` reports: the record's state, or what it sees beyond it."""
    if rec.state == NicState.DETACHING:
        return rec.state
    if facts is None or facts.id != rec.container_id:
        return NicState.GONE
    if not facts.running:
        return NicState.STOPPED
    if not interface_matches(rec, facts.pid):
        return NicState.MISSING
    if rec.mode == "dhcp" and rec.expires_at is not None and rec.expires_at < time.time():
        return NicState.EXPIRED
    return rec.state


def show(cfg: Config, container: str | None = None) -> list[Attachment]:
    """Every LAN interface devbox plumbed (or those of ``container``), with live state and
    the IPv6 addresses the kernel has on a live one (SLAAC from the LAN's advertisements)."""
    from devbox.adapters.docker import net
    from devbox.adapters.net import addresses6

    records = store(cfg).all()
    if container is not None:
        records = [r for r in records if r.container == container]
        if not records and net.inspect(container) is None:
            raise UserError(f"no container named {container}")
    cache: dict[str, ContainerFacts | None] = {}
    out = []
    for rec in records:
        if rec.container not in cache:
            cache[rec.container] = net.inspect(rec.container)
        facts, state = cache[rec.container], live_state(rec, cache[rec.container])
        ipv6: list[str] = []
        if facts is not None and state in (NicState.BOUND, NicState.STATIC, NicState.EXPIRED):
            got = addresses6.lan_addresses(facts.pid, rec.ifname, rec.mac)
            ipv6 = [f"{address}/{prefixlen}" for address, prefixlen in got]
        out.append(_attachment(rec, state, ipv6))
    return out


def resolve_parent(cfg: Config, parent: str | None = None) -> str:
    """The parent an attach would use: ``parent``, else the setting, else the lab uplink."""
    from devbox.model.lab_plan import default_parent

    return parent or default_parent(cfg)


def wait_attached(
    cfg: Config, container: str, timeout: float, log: OpLog | None = None, ifname: str | None = None
) -> Attachment:
    """Wait (bounded) until ``container``'s current run has its LAN interface with an address
    (the daemon re-plumbs on start). Raises OperationFailed after ``timeout`` seconds."""
    from devbox.adapters.docker import net

    name = ifname or cfg.text("ifname")
    last = "no record"

    def attached() -> Attachment | None:
        nonlocal last
        facts = net.inspect(container)
        rec = store(cfg).load(container, name)
        if facts is None:
            raise UserError(f"no container named {container}")
        if (
            rec is not None
            and facts.running
            and rec.container_id == facts.id
            and rec.pid == facts.pid
            and rec.ip
            and rec.state in (NicState.BOUND, NicState.STATIC)
            and interface_matches(rec, facts.pid)
        ):
            if log is not None:
                log.write(f"{container}: {name} {rec.ip}/{rec.prefixlen} ({rec.mac})")
            return _attachment(rec)
        last = (
            "container not running"
            if not facts.running
            else ("no record" if rec is None else f"state {rec.state}, pid {rec.pid}/{facts.pid}")
        )
        return None

    return wait_until(
        attached,
        timeout,
        0.1,
        f"{container}'s LAN address",
        error=lambda: OperationFailed(
            f"{container} got no LAN address within {timeout:g}s ({last})",
            hint="is the devbox daemon running? (devbox common daemon); see <root>/logs/daemon.log",
        ),
    )
