"""The lab LAN's plan, from settings alone (pure: no I/O).

Layout of a lab named N with uplink U on subnet S:

    host:   U (veth, no address, IPv6 off; the default macvlan parent)
            U's shim (macvlan bridge on U) with S.2 and P::2 -> the host reaches containers;
            it takes no router advertisement (nor does U, nor the lab's own lab0)
    netns N: lab0 (veth peer) with S.1; dnsmasq hands out S.<start>..S.<end>, router S.1
             and P::1/64, where P is the lab's unique local IPv6 prefix (:func:`ula_prefix`):
             dnsmasq advertises P (router advertisements, SLAAC) with router lifetime 0

The lab never routes anywhere: S.1 is an address in a namespace with no other interface, and
its router advertisements announce P as on-link only (no default route).
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass, field, replace
from pathlib import Path

from devbox.config import Config
from devbox.errors import UserError
from devbox.model.record import Record
from devbox.paths import Layout

IFNAMSIZ = 15
NS_IFNAME = "lab0"
ULA_PREFIXLEN = 64  # SLAAC needs a /64
RA_INTERVAL = 10  # seconds between the lab's unsolicited router advertisements


def ula_prefix(name: str, subnet: str, subnet_id: int = 0) -> ipaddress.IPv6Network:
    """The lab's unique local IPv6 /64 (RFC 4193): ``fd`` + a 40-bit global ID hashed from
    the lab's name and IPv4 subnet (two labs of one test run, or two hosts' labs, differ) +
    a 16-bit subnet ID (0: the untagged lab; a VLAN segment: its VLAN id). Never ``fd00::/64``
    (a global ID of 0 becomes 1): a host often has that one on a real interface."""
    if not 0 <= subnet_id <= 0xFFFF:
        raise ValueError(f"IPv6 subnet ID {subnet_id} is out of range (0-65535)")
    digest = hashlib.sha256(f"devbox-lab\0{name}\0{subnet}".encode()).digest()
    global_id = int.from_bytes(digest[:5], "big") or 1
    value = (0xFD << 120) | (global_id << 80) | (subnet_id << 64)
    return ipaddress.IPv6Network((value, ULA_PREFIXLEN))


def ula_gateway(prefix: ipaddress.IPv6Network) -> str:
    """The lab's own address in ``prefix``: ``P::1`` (dnsmasq advertises the prefix of an
    address its interface has)."""
    return str(prefix.network_address + 1)


def shim_name(parent: str) -> str:
    """Name of the host-side macvlan shim on ``parent`` (<= 15 characters, stable)."""
    if len(parent) <= IFNAMSIZ - 2:
        return f"{parent}-s"
    return "dbxs" + hashlib.sha1(parent.encode()).hexdigest()[:8]


def vlan_ifname(parent: str, vid: int) -> str:
    name = f"{parent}.{vid}"
    if len(name) <= IFNAMSIZ:
        return name
    return f"{parent[: IFNAMSIZ - 1 - len(str(vid))]}.{vid}"


def check_vlan_id(vid: int) -> int:
    if not 1 <= vid <= 4094:
        raise UserError(
            f"VLAN id {vid} is out of range (1-4094)", hint="use a VLAN id between 1 and 4094"
        )
    return vid


def check_ifname(name: str, what: str) -> str:
    if (
        not name
        or len(name) > IFNAMSIZ
        or "/" in name
        or any(c.isspace() for c in name)
        or name in {".", ".."}
    ):
        raise UserError(
            f"{what} '{name}' is not a valid interface name "
            f"(1-{IFNAMSIZ} characters, no '/' or spaces)"
        )
    return name


@dataclass(frozen=True)
class Segment:
    """A tagged segment of the lab (VLAN ``vid``) with its own subnet and range."""

    vid: int
    interface: str
    subnet: str
    gateway: str
    range_start: str
    range_end: str
    netmask: str
    ipv6_prefix: str = ""  # "fd..::/64", empty: no IPv6 on this segment
    ipv6_gateway: str = ""

    @property
    def ipv6_base(self) -> str:
        return self.ipv6_prefix.split("/")[0]


@dataclass(frozen=True)
class LabPlan:
    name: str  # netns name
    uplink: str  # host end of the veth pair
    ns_ifname: str
    shim: str
    subnet: str
    prefixlen: int
    netmask: str
    gateway: str  # the namespace's own address: router and DNS handed out
    shim_address: str
    range_start: str
    range_end: str
    lease_time: str
    renewal_time: int  # T1 handed out (seconds); 0: the DHCP default (half the lease)
    domain: str
    ping_check: bool
    dir: Path
    vlans: tuple[Segment, ...] = field(default=())
    dnsmasq: str = "dnsmasq"  # program name or path
    ipv6_prefix: str = ""  # the lab's ULA "fd..::/64" (router advertisements); "": none
    ipv6_gateway: str = ""  # the lab's own address in it (P::1)

    @property
    def ipv6_base(self) -> str:
        return self.ipv6_prefix.split("/")[0]

    @property
    def ipv6_shim_address(self) -> str:
        """The host shim's fixed address in the lab prefix (P::2, as S.2 for IPv4): the shim
        takes no router advertisement, so the host reaches containers over IPv6 through it."""
        if not self.ipv6_prefix:
            return ""
        return str(ipaddress.IPv6Network(self.ipv6_prefix).network_address + 2)

    def without_ipv6(self) -> LabPlan:
        """This plan with no IPv6 anywhere (a kernel without IPv6)."""
        return replace(
            self,
            ipv6_prefix="",
            ipv6_gateway="",
            vlans=tuple(replace(s, ipv6_prefix="", ipv6_gateway="") for s in self.vlans),
        )

    @property
    def conf_file(self) -> Path:
        return self.dir / "dnsmasq.conf"

    @property
    def pid_file(self) -> Path:
        return self.dir / "dnsmasq.pid"

    @property
    def lease_file(self) -> Path:
        return self.dir / "dnsmasq.leases"

    @property
    def log_file(self) -> Path:
        return self.dir / "dnsmasq.log"

    @property
    def state_file(self) -> Path:
        return self.dir / "lab.json"

    def template_context(self) -> dict[str, object]:
        return {
            "name": self.name,
            "interface": self.ns_ifname,
            "pid_file": str(self.pid_file),
            "lease_file": str(self.lease_file),
            "log_file": str(self.log_file),
            "domain": self.domain,
            "range_start": self.range_start,
            "range_end": self.range_end,
            "netmask": self.netmask,
            "lease_time": self.lease_time,
            "renewal_time": self.renewal_time,
            "gateway": self.gateway,
            "ping_check": self.ping_check,
            "vlans": list(self.vlans),
            "ipv6_base": self.ipv6_base,
            "ipv6_prefixlen": ULA_PREFIXLEN,
            "ra_interval": RA_INTERVAL,
        }


UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _lease_seconds(text: str) -> int | None:
    """A lease time in dnsmasq syntax in seconds (None: infinite); UserError when it is none."""
    raw = text.strip().lower()
    if raw == "infinite":
        return None
    unit = raw[-1:] if raw[-1:] in UNIT_SECONDS else ""
    number = raw[: len(raw) - len(unit)]
    if not number.isdigit():
        raise UserError(
            f"lab.lease_time '{text}' is not a dnsmasq lease time",
            hint="use a number with an optional unit: 120, 2m, 12h, 1d",
        )
    return int(number) * UNIT_SECONDS[unit]


def _check_renewal_time(seconds: int, lease_time: str) -> int:
    lease = _lease_seconds(lease_time)
    if seconds < 0 or (seconds and lease is not None and seconds >= lease):
        raise UserError(
            f"lab.renewal_time {seconds} is out of range (0, or 1 up to the lease's "
            f"{lease if lease is not None else 'infinite'} seconds)",
            hint="0 renews at half the lease, the DHCP default",
        )
    return seconds


def _check_lease_time(text: str) -> str:
    raw = text.strip().lower()
    seconds = _lease_seconds(text)
    if seconds is not None and seconds < 120:
        raise UserError(
            f"lab.lease_time '{text}' is shorter than dnsmasq's minimum (2m)", hint="use 2m or more"
        )
    return raw


def plan(cfg: Config, vlans: tuple[int, ...] = ()) -> LabPlan:
    """The lab as the settings describe it; a bad combination is a user error."""
    name = cfg.text("lab.name")
    if not name or "/" in name or len(name) > 64:
        raise UserError(f"lab.name '{name}' is not a valid network namespace name")
    uplink = check_ifname(cfg.text("lab.uplink"), "lab.uplink")
    net = ipaddress.IPv4Network(cfg.text("lab.subnet"))
    hosts = net.num_addresses - 2
    start, end = cfg.integer("lab.range_start"), cfg.integer("lab.range_end")
    if not 3 <= start <= end <= hosts:
        raise UserError(
            f"lab DHCP range {start}-{end} does not fit subnet {net} (use 3..{hosts})",
            hint="set lab.range_start and lab.range_end (host numbers; .1 and .2 are taken "
            "by the lab's server and the host shim)",
        )
    segments = []
    for vid in vlans:
        check_vlan_id(vid)
        # each VLAN gets the /24 (or same-size) block 'vid' blocks above the lab subnet
        base = int(net.network_address) + vid * net.num_addresses
        try:
            sub = ipaddress.IPv4Network((base, net.prefixlen))
        except ValueError as err:
            raise UserError(f"no room for a VLAN {vid} subnet after {net}") from err
        prefix6 = ula_prefix(name, str(net), vid)
        segments.append(
            Segment(
                vid=vid,
                interface=vlan_ifname(NS_IFNAME, vid),
                subnet=str(sub),
                gateway=str(sub.network_address + 1),
                range_start=str(sub.network_address + start),
                range_end=str(sub.network_address + end),
                netmask=str(sub.netmask),
                ipv6_prefix=str(prefix6),
                ipv6_gateway=ula_gateway(prefix6),
            )
        )
    prefix6 = ula_prefix(name, str(net))
    lease_time = _check_lease_time(cfg.text("lab.lease_time"))
    return LabPlan(
        name=name,
        uplink=uplink,
        ns_ifname=NS_IFNAME,
        shim=shim_name(uplink),
        subnet=str(net),
        prefixlen=net.prefixlen,
        netmask=str(net.netmask),
        gateway=str(net.network_address + 1),
        shim_address=str(net.network_address + 2),
        range_start=str(net.network_address + start),
        range_end=str(net.network_address + end),
        lease_time=lease_time,
        renewal_time=_check_renewal_time(cfg.integer("lab.renewal_time"), lease_time),
        domain=cfg.text("lab.domain"),
        ping_check=cfg.flag("lab.ping_check"),
        dir=Layout(cfg.root).lab,
        vlans=tuple(segments),
        dnsmasq=cfg.text("lab.dnsmasq"),
        ipv6_prefix=str(prefix6),
        ipv6_gateway=ula_gateway(prefix6),
    )


@dataclass(frozen=True)
class DnsmasqLease(Record):
    expires: int
    mac: str
    ip: str
    hostname: str
    client_id: str


def parse_leases(text: str) -> list[DnsmasqLease]:
    """dnsmasq's lease file: ``EXPIRY MAC IP HOSTNAME CLIENT-ID`` per line ('*' = none)."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 4 or not parts[0].isdigit():
            continue
        client_id = parts[4] if len(parts) > 4 else "*"
        out.append(
            DnsmasqLease(
                int(parts[0]),
                parts[1].lower(),
                parts[2],
                "" if parts[3] == "*" else parts[3],
                "" if client_id == "*" else client_id,
            )
        )
    return out


def default_parent(cfg: Config) -> str:
    """The macvlan parent devbox uses: the ``parent`` setting, else the lab uplink."""
    return cfg.text("parent") or cfg.text("lab.uplink")


def subnet_clash(p: LabPlan, taken: list[tuple[str, str]]) -> str | None:
    """Why ``p``'s subnets cannot be used on this host, or None: one of them (the lab's or a
    VLAN segment's) overlaps a network the host already reaches (``taken``: ``(network,
    interface)`` pairs) on an interface other than the lab's own shim, so the host's traffic
    for it would go to one of the two, never both."""
    mine = [p.subnet, *(s.subnet for s in p.vlans)]
    for subnet in mine:
        net = ipaddress.IPv4Network(subnet)
        for other, ifname in taken:
            if ifname != p.shim and net.overlaps(ipaddress.IPv4Network(other)):
                return (
                    f"lab subnet {subnet} overlaps {other} on {ifname}, "
                    "a network this host reaches already"
                )
    return None
