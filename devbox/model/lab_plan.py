"""The lab LAN's plan, from settings alone (pure: no I/O).

Layout of a lab named N with uplink U on subnet S:

    host:   U (veth, no address; the default macvlan parent)
            U's shim (macvlan bridge on U) with S.2 -> the host reaches containers on S
    netns N: lab0 (veth peer) with S.1; dnsmasq hands out S.<start>..S.<end>, router S.1

The lab never routes anywhere: S.1 is an address in a namespace with no other interface.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from devbox.config import Config
from devbox.errors import UserError
from devbox.model.record import Record
from devbox.paths import Layout

IFNAMSIZ = 15
NS_IFNAME = "lab0"


def shim_name(parent: str) -> str:
    """Name of the host-side macvlan shim on ``parent`` (<= 15 characters, stable)."""
    if len(parent) <= IFNAMSIZ - 2:
        return f"{parent}-s"
    import hashlib

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
    domain: str
    ping_check: bool
    dir: Path
    vlans: tuple[Segment, ...] = field(default=())
    dnsmasq: str = "dnsmasq"  # program name or path

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
            "gateway": self.gateway,
            "ping_check": self.ping_check,
            "vlans": list(self.vlans),
        }


def _check_lease_time(text: str) -> str:
    raw = text.strip().lower()
    if raw == "infinite":
        return raw
    unit = raw[-1:] if raw[-1:] in {"s", "m", "h", "d", "w"} else ""
    number = raw[: len(raw) - len(unit)]
    if not number.isdigit():
        raise UserError(
            f"lab.lease_time '{text}' is not a dnsmasq lease time",
            hint="use a number with an optional unit: 120, 2m, 12h, 1d",
        )
    seconds = int(number) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[unit]
    if seconds < 120:
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
        segments.append(
            Segment(
                vid=vid,
                interface=vlan_ifname(NS_IFNAME, vid),
                subnet=str(sub),
                gateway=str(sub.network_address + 1),
                range_start=str(sub.network_address + start),
                range_end=str(sub.network_address + end),
                netmask=str(sub.netmask),
            )
        )
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
        lease_time=_check_lease_time(cfg.text("lab.lease_time")),
        domain=cfg.text("lab.domain"),
        ping_check=cfg.flag("lab.ping_check"),
        dir=Layout(cfg.root).lab,
        vlans=tuple(segments),
        dnsmasq=cfg.text("lab.dnsmasq"),
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
