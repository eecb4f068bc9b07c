"""What devbox remembers about a container's LAN interface, and the lease arithmetic (pure).

One :class:`NicRecord` per (container, interface) is persisted under ``<root>/leases/``: the
spec it was plumbed with (parent, VLAN, MAC, mode), the address it holds, and for DHCP the
lease as pyroute2 dumps it, so a restarted daemon adopts the lease instead of starting over.
"""

from __future__ import annotations

import ipaddress
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any

from devbox.errors import DevboxError, ExitCode, UserError
from devbox.model.fieldcopy import copy_fields


class NicState(StrEnum):
    """Where a container's LAN interface stands. A record holds one of the first seven (and
    moves only as :data:`TRANSITIONS` allows, through :meth:`NicRecord.move`); the last four
    are what ``net show`` sees beyond a record (:data:`SEEN_ONLY`), never recorded."""

    BOUND = "bound"  # DHCP lease held
    RENEWING = "renewing"
    REBINDING = "rebinding"
    STATIC = "static"  # static address configured
    STOPPED = "stopped"  # container not running; lease kept for its next start
    DETACHING = "detaching"  # detach in progress: the daemon lets go of it
    UNBOUND = "unbound"  # lease lost (NAK/expiry); discovery restarted
    MISSING = "missing"  # container running, but the interface is not in its netns
    GONE = "gone"  # container removed or replaced since the record was written
    EXPIRED = "expired"  # the DHCP lease on record is past its expiry
    RELEASED = "released"  # detached: lease released, record removed


SEEN_ONLY = frozenset({NicState.MISSING, NicState.GONE, NicState.EXPIRED, NicState.RELEASED})

# state -> states it may move to (the daemon's bookkeeping; pyroute2 keeps the DHCP FSM)
TRANSITIONS: dict[NicState, frozenset[NicState]] = {
    NicState.BOUND: frozenset(
        {
            NicState.RENEWING,
            NicState.REBINDING,
            NicState.BOUND,
            NicState.STOPPED,
            NicState.DETACHING,
            NicState.UNBOUND,
        }
    ),
    NicState.RENEWING: frozenset(
        {NicState.BOUND, NicState.REBINDING, NicState.UNBOUND, NicState.STOPPED, NicState.DETACHING}
    ),
    NicState.REBINDING: frozenset(
        {NicState.BOUND, NicState.UNBOUND, NicState.STOPPED, NicState.DETACHING}
    ),
    NicState.UNBOUND: frozenset(
        {NicState.BOUND, NicState.STOPPED, NicState.DETACHING, NicState.UNBOUND}
    ),
    NicState.STATIC: frozenset({NicState.STATIC, NicState.STOPPED, NicState.DETACHING}),
    NicState.STOPPED: frozenset(
        {NicState.BOUND, NicState.STATIC, NicState.UNBOUND, NicState.STOPPED, NicState.DETACHING}
    ),
    NicState.DETACHING: frozenset({NicState.DETACHING}),
}


def can_move(old: NicState, new: NicState) -> bool:
    return new in TRANSITIONS.get(old, frozenset())


class IllegalMove(DevboxError):
    """A NIC record was asked to make a move :data:`TRANSITIONS` forbids: a devbox bug."""

    exit_code = ExitCode.INTERNAL


@dataclass(frozen=True)
class NicSpec:
    """How to plumb one LAN interface into a container (validated, pure)."""

    container: str
    ifname: str
    parent: str
    mac: str
    mode: str  # "dhcp" or "static"
    vlan: int | None = None
    ip: str | None = None  # static: address
    prefixlen: int | None = None
    gateway: str | None = None
    mtu: int | None = None  # None: the parent's

    @property
    def key(self) -> str:
        return record_key(self.container, self.ifname)


def record_key(container: str, ifname: str) -> str:
    return f"{container}.{ifname}"


def parse_static(cidr: str, gateway: str | None) -> tuple[str, int, str | None]:
    try:
        iface = ipaddress.IPv4Interface(cidr)
    except ValueError as err:
        raise UserError(
            f"--ip {cidr}: not an IPv4 address with prefix ({err})", hint="use --ip 192.168.1.50/24"
        ) from None
    if "/" not in cidr:
        raise UserError(
            f"--ip {cidr}: give the prefix length too", hint=f"for example --ip {cidr}/24"
        )
    if (
        iface.ip in (iface.network.network_address, iface.network.broadcast_address)
        and iface.network.prefixlen < 31
    ):
        raise UserError(f"--ip {cidr} is the network or broadcast address of its subnet")
    if iface.ip.is_multicast or iface.ip.is_loopback or iface.ip.is_unspecified:
        raise UserError(f"--ip {cidr} is not a unicast host address")
    gw = None
    if gateway:
        try:
            gw_addr = ipaddress.IPv4Address(gateway)
        except ValueError:
            raise UserError(f"--gateway {gateway}: not an IPv4 address") from None
        if gw_addr not in iface.network:
            raise UserError(
                f"--gateway {gateway} is not in {iface.network}",
                hint="the gateway must be on the interface's subnet",
            )
        gw = str(gw_addr)
    return str(iface.ip), iface.network.prefixlen, gw


def lease_deadlines(
    obtained: float,
    lease_time: int | None,
    renewal_time: int | None = None,
    rebinding_time: int | None = None,
) -> tuple[float | None, float | None, float | None]:
    """Absolute (T1, T2, expiry) for a lease; RFC 2131 defaults T1 = .5, T2 = .875 of the
    lease. ``None`` everywhere for an infinite lease (0xffffffff) or no lease time."""
    if lease_time is None or lease_time in (-1, 0xFFFFFFFF):
        return None, None, None
    t1 = renewal_time if renewal_time not in (None, -1) else lease_time * 0.5
    t2 = rebinding_time if rebinding_time not in (None, -1) else lease_time * 0.875
    assert t1 is not None and t2 is not None
    t2 = min(max(t2, t1), lease_time)
    return obtained + t1, obtained + t2, obtained + lease_time


def phase(
    now: float,
    obtained: float,
    lease_time: int | None,
    renewal_time: int | None = None,
    rebinding_time: int | None = None,
) -> NicState:
    """Where a lease stands at ``now``: bound before T1, renewing until T2, rebinding until
    expiry, unbound after."""
    t1, t2, exp = lease_deadlines(obtained, lease_time, renewal_time, rebinding_time)
    if exp is None or t1 is None or t2 is None:
        return NicState.BOUND
    if now < t1:
        return NicState.BOUND
    if now < t2:
        return NicState.RENEWING
    if now < exp:
        return NicState.REBINDING
    return NicState.UNBOUND


@dataclass
class NicRecord:
    container: str
    container_id: str
    ifname: str
    parent: str
    mac: str
    mode: str
    hostname: str
    client_id: str  # text form of the DHCP client id
    vlan: int | None = None
    mtu: int | None = None
    ip: str | None = None
    prefixlen: int | None = None
    gateway: str | None = None
    dns: list[str] = field(default_factory=list)
    domain: str = ""
    state: NicState = NicState.BOUND  # change it with move(); a str is read as a NicState
    pid: int = 0  # container init pid the interface was plumbed into
    obtained: float | None = None
    lease_time: int | None = None
    renewal_time: int | None = None
    rebinding_time: int | None = None
    server_id: str = ""
    renewals: int = 0
    dhcp_lease: dict[str, Any] | None = None  # pyroute2 Lease as dumped (ack, times)

    def __post_init__(self) -> None:
        state = NicState(self.state)  # ValueError for a state no record holds
        if state in SEEN_ONLY:
            raise ValueError(f"{state!r} is not a state a record holds")
        self.state = state

    @property
    def key(self) -> str:
        return record_key(self.container, self.ifname)

    def move(self, new: NicState) -> NicRecord:
        """The one way a record changes state: checked against :data:`TRANSITIONS`."""
        if not can_move(self.state, new):
            raise IllegalMove(
                f"{self.key}: a NIC record cannot move from {self.state} to {new}",
                hint="a devbox bug: please report it with the container's log",
            )
        self.state = new
        return self

    @property
    def expires_at(self) -> float | None:
        if self.obtained is None:
            return None
        return lease_deadlines(
            self.obtained, self.lease_time, self.renewal_time, self.rebinding_time
        )[2]

    def spec(self) -> NicSpec:
        """The spec this record was plumbed with (its address fields as the record holds them)."""
        return copy_fields(NicSpec, self)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["state"] = self.state.value  # plain JSON, as on disk since the first version
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NicRecord:
        """The record ``data`` holds (as :meth:`to_dict` wrote it); TypeError or ValueError
        when it is not one."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


class Action(StrEnum):
    ADOPT = "adopt"  # running, interface in place: take over the lease
    REPLUMB = "replumb"  # running, interface gone (restart, new netns): plumb again
    PAUSE = "pause"  # not running: nothing to hold; keep the record for its next start
    CLEANUP = "cleanup"  # container removed (or replaced): release and forget
    PLUMB = "plumb"  # labelled devbox-networked container with no record yet


@dataclass(frozen=True)
class ContainerView:
    """What the daemon needs to know about a container (from Docker)."""

    name: str
    id: str
    running: bool
    pid: int
    networked: bool  # carries the devbox.net label


def plan_reconcile(
    records: list[NicRecord], containers: list[ContainerView], iface_present: dict[str, bool]
) -> list[tuple[Action, str]]:
    """Decide, per record key (or container name for PLUMB), what the daemon must do.

    ``iface_present[key]`` says whether the record's interface exists in the container's
    current netns with the record's MAC. Pure: the daemon and unit tests share it.
    """
    by_name = {c.name: c for c in containers}
    out: list[tuple[Action, str]] = []
    seen: set[str] = set()
    for rec in sorted(records, key=lambda r: r.key):
        ctr = by_name.get(rec.container)
        if ctr is None or (rec.container_id and ctr.id != rec.container_id):
            out.append((Action.CLEANUP, rec.key))
            continue
        seen.add(rec.container)
        if rec.state == NicState.DETACHING:
            continue
        elif not ctr.running:
            out.append((Action.PAUSE, rec.key))
        elif ctr.pid == rec.pid and iface_present.get(rec.key, False):
            out.append((Action.ADOPT, rec.key))
        else:
            out.append((Action.REPLUMB, rec.key))
    for ctr in sorted(containers, key=lambda c: c.name):
        if ctr.networked and ctr.running and ctr.name not in seen:
            out.append((Action.PLUMB, ctr.name))
    return out
