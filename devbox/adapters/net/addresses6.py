"""IPv6 on a LAN link, from the host: an address without duplicate detection (the lab's own),
SLAAC switched on for a container's LAN interface, router advertisements refused on the lab's
own links, and a container's IPv6 addresses read back from the kernel (netlink inside its
network namespace), never from a file it could write.

The host's own interfaces are never touched: :func:`enable_slaac_here` refuses to run in the
host's namespace, :func:`configure_lab_link` to change anything but a link the lab made
(veth, macvlan, bridge, VLAN), and :func:`lan_addresses` answers nothing for the host.
"""

from __future__ import annotations

import os
import socket
from functools import partial
from pathlib import Path
from typing import Any

from devbox.adapters.net import netlink
from devbox.adapters.net import netns as nsmod
from devbox.errors import DevboxError, OperationFailed

IFA_F_NODAD = 0x02
IFA_F_DADFAILED = 0x08
IFA_F_TENTATIVE = 0x40
IFA_F_PERMANENT = 0x80  # set by hand, not by SLAAC
RT_SCOPE_UNIVERSE = 0  # global, and unique local (ULA) too
RT_SCOPE_LINK = 253
MAX_SHOWN = 16  # rogue advertisements (a neighbour's) can give a container many: shown at most
READ_TIMEOUT = 5.0  # seconds for one container's read (a tenant cannot stall a listing)
CONF_DIR = Path("/proc/sys/net/ipv6/conf")
# SLAAC on: IPv6 on, router advertisements accepted, addresses made from their prefixes
SLAAC_SYSCTLS = (("disable_ipv6", "0"), ("accept_ra", "1"), ("autoconf", "1"))
# the lab's own links never take router advertisements (the lab's, or a tenant's rogue ones:
# a container's root has CAP_NET_RAW): no address, no route, no default route from the LAN
NO_RA = (("accept_ra", "0"), ("autoconf", "0"))
IPV6_OFF = (("disable_ipv6", "1"),)  # the host's uplink: no address at all, as for IPv4
LAB_LINK_KINDS = {"veth", "macvlan", "bridge", "vlan"}


def kernel_has_ipv6() -> bool:
    """Whether this kernel has IPv6 at all (not booted with ``ipv6.disable=1``)."""
    return Path("/proc/sys/net/ipv6").is_dir()


def add_address_nodad(
    name: str, address: str, prefixlen: int, netns: Path | str | None = None
) -> None:
    """``address/prefixlen`` on ``name`` (replacing), usable at once: no duplicate address
    detection, so dnsmasq can bind it and advertise its prefix straight away."""

    def work() -> None:
        with netlink.session() as ipr:
            idx = netlink.index_of(ipr, name)
            netlink.call(
                f"add address {address}/{prefixlen} to {name}",
                lambda: ipr.addr(
                    "replace",
                    index=idx,
                    address=address,
                    prefixlen=prefixlen,
                    family=socket.AF_INET6,
                    flags=IFA_F_NODAD,
                ),
            )

    netlink.in_netns(netns, work)


def _same_netns(a: Path | str, b: Path | str) -> bool:
    sa, sb = os.stat(a), os.stat(b)
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def _in_host_netns() -> bool:
    """Whether the calling thread is in the network namespace of devbox's main thread (the
    host's: devbox only ever enters another one in a thread of its own or a child)."""
    return _same_netns("/proc/thread-self/ns/net", "/proc/self/ns/net")


def _write_conf(ifname: str, settings: tuple[tuple[str, str], ...]) -> bool:
    """Write ``settings`` under ``/proc/sys/net/ipv6/conf/IFNAME/`` (the calling thread's
    network namespace), opened without following links. False when there is no IPv6 for
    ``ifname`` there or a setting would not take."""
    if "/" in ifname or ifname in {"", ".", ".."}:
        raise OperationFailed(f"'{ifname}' is not an interface name")
    base = CONF_DIR / ifname
    for key, value in settings:
        try:
            fd = os.open(base / key, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return False  # no IPv6 here (off in the kernel or for this namespace)
        try:
            os.write(fd, value.encode() + b"\n")
        except OSError:
            return False
        finally:
            os.close(fd)
    return True


def enable_slaac_here(ifname: str) -> bool:
    """(In a thread inside a container's network namespace.) Switch SLAAC on for ``ifname``:
    IPv6 on, router advertisements accepted, addresses from their prefixes. The sysctl files
    are the kernel's (``/proc/sys/net`` is the calling thread's namespace). False when this
    kernel or namespace has no IPv6 for ``ifname`` or a setting would not take (the link
    works without IPv6); never run in the host's namespace (OperationFailed)."""
    if _in_host_netns():
        raise OperationFailed(
            f"refusing to change IPv6 settings of {ifname} in the host's network namespace"
        )
    return _write_conf(ifname, SLAAC_SYSCTLS)


def configure_lab_link(
    ifname: str, settings: tuple[tuple[str, str], ...], netns: Path | str | None = None
) -> bool:
    """IPv6 ``settings`` (:data:`NO_RA`, :data:`IPV6_OFF`) of one of the lab's own links: on
    the host its veth uplink or macvlan shim, in the lab's namespace its server's interfaces.
    Never a physical NIC (OperationFailed). False when the link or IPv6 is missing."""

    def work() -> bool:
        link = netlink.get_link(ifname)
        if link is None:
            return False
        if link.kind not in LAB_LINK_KINDS:
            raise OperationFailed(
                f"refusing to change IPv6 settings of {ifname}: it is "
                f"{link.kind or 'a physical NIC'}, not a link the lab made"
            )
        return _write_conf(ifname, settings)

    return netlink.in_netns(netns, work)


def drop_autoconf(ifname: str, netns: Path | str | None = None) -> list[str]:
    """Remove the addresses SLAAC gave ``ifname`` (global ones without IFA_F_PERMANENT: from
    router advertisements, before :data:`NO_RA` was set). Returns them."""

    def work() -> list[str]:
        with netlink.session() as ipr:
            try:
                idx = netlink.index_of(ipr, ifname)
            except netlink.NetlinkFailed:
                return []
            gone = []
            for msg in list(ipr.get_addr(family=socket.AF_INET6, index=idx)):
                flags = int(msg.get("IFA_FLAGS") or msg.get("flags") or 0)
                address = str(msg.get("IFA_ADDRESS") or "")
                if flags & IFA_F_PERMANENT or int(msg.get("scope") or 0) != RT_SCOPE_UNIVERSE:
                    continue
                netlink.call(
                    f"remove {address} from {ifname}",
                    partial(
                        ipr.addr,
                        "del",
                        index=idx,
                        address=address,
                        prefixlen=int(msg.get("prefixlen")),
                        family=socket.AF_INET6,
                    ),
                )
                gone.append(address)
            return gone

    return netlink.in_netns(netns, work)


def _usable(msg: Any, link_local: bool) -> tuple[str, int] | None:
    """``(address, prefixlen)`` of one RTM_NEWADDR message, if a listing shows it."""
    scope = int(msg.get("scope") or 0)
    flags = int(msg.get("IFA_FLAGS") or msg.get("flags") or 0)
    if flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED):
        return None
    if scope != RT_SCOPE_UNIVERSE and not (link_local and scope == RT_SCOPE_LINK):
        return None
    address = msg.get("IFA_ADDRESS")
    return (str(address), int(msg.get("prefixlen"))) if address else None


def lan_addresses(
    pid: int,
    ifname: str,
    mac: str,
    *,
    link_local: bool = False,
    limit: int = MAX_SHOWN,
) -> list[tuple[str, int]]:
    """The IPv6 addresses ``(address, prefixlen)`` the kernel has on ``ifname`` in the network
    namespace of process ``pid``: global and unique local ones (link-local too with
    ``link_local``), none still tentative or failed duplicate detection, at most ``limit``.
    Only while that interface still has devbox's ``mac`` (a pid since reused by another
    process, or the host's namespace: nothing). Unreadable: ``[]`` (a listing goes on)."""
    path = nsmod.pid_path(pid)
    try:
        if pid <= 0 or _same_netns(path, "/proc/self/ns/net"):
            return []
    except OSError:
        return []  # the process is gone

    def work() -> list[tuple[str, int]]:
        from pyroute2.netlink.exceptions import NetlinkError

        with netlink.session() as ipr:
            try:
                links = [netlink.link_info(m) for m in ipr.link("get", ifname=ifname)]
            except NetlinkError:
                return []
            if len(links) != 1 or links[0].mac.lower() != mac.lower():
                return []
            out: list[tuple[str, int]] = []
            for msg in ipr.get_addr(family=socket.AF_INET6, index=links[0].index):
                if int(msg.get("index") or 0) != links[0].index:
                    continue
                got = _usable(msg, link_local)
                if got is not None:
                    out.append(got)
                if len(out) >= limit:
                    break
            return out

    try:
        return nsmod.run_in(path, work, timeout=READ_TIMEOUT)
    except (DevboxError, OSError):
        return []


IF_INET6_GLOBAL = 0x00  # /proc/net/if_inet6's scope column: global (ULA included)
IF_INET6_LINK = 0x20


def parse_if_inet6(
    text: str, ifname: str, link_local: bool = False, limit: int = MAX_SHOWN
) -> list[tuple[str, int]]:
    """``(address, prefixlen)`` of ``ifname`` in a ``/proc/net/if_inet6`` table (``ADDR IFINDEX
    PREFIXLEN SCOPE FLAGS NAME``, hex), as :func:`lan_addresses` chooses them."""
    import ipaddress

    out: list[tuple[str, int]] = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 6 or parts[5] != ifname or len(parts[0]) != 32:
            continue
        try:
            address = ipaddress.IPv6Address(bytes.fromhex(parts[0]))
            prefixlen, scope, flags = (int(p, 16) for p in parts[2:5])
        except ValueError:
            continue
        if flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED):
            continue
        if scope != IF_INET6_GLOBAL and not (link_local and scope == IF_INET6_LINK):
            continue
        out.append((str(address), prefixlen))
        if len(out) >= limit:
            break
    return out


def proc_addresses(pid: int, ifname: str) -> list[tuple[str, int]]:
    """:func:`lan_addresses` for a listing of many: one read of ``/proc/PID/net/if_inet6``, the
    kernel's table of that process's network namespace (no namespace entered, no netlink;
    nothing a container writes), without the MAC check. The host's namespace: nothing."""
    path = nsmod.pid_path(pid)
    try:
        if pid <= 0 or _same_netns(path, "/proc/self/ns/net"):
            return []
        fd = os.open(f"/proc/{pid}/net/if_inet6", os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as fh:
            text = fh.read(1 << 16).decode(errors="replace")
    except OSError:
        return []  # gone, or no IPv6 in the kernel
    return parse_if_inet6(text, ifname)


def table_of(links: list[tuple[str, int, str]]) -> dict[str, list[str]]:
    """``{name: [address, ...]}`` for ``(name, pid, ifname)`` links, by :func:`proc_addresses`
    (one read each: entering each netns for netlink cost ~4 ms a container, 0.1 s for 25)."""
    return {name: [a for a, _ in proc_addresses(pid, ifname)] for name, pid, ifname in links}
