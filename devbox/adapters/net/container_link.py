"""A container's LAN link, put in place from the host: a macvlan made straight in the
container's network namespace, renamed over a stale one there, and given a static address.

Built on the session and lookups of :mod:`devbox.adapters.net.netlink` (errors are its
:class:`~devbox.adapters.net.netlink.NetlinkFailed`)."""

from __future__ import annotations

import errno
from collections.abc import Callable
from pathlib import Path
from typing import Any

from devbox.adapters.net import addresses6, netlink
from devbox.adapters.net import netns as nsmod


def create_macvlan_in_pid(lower: str, tmp: str, pid: int, mac: str, mtu: int) -> None:
    """Create macvlan ``tmp`` (bridge mode, ``mac``, ``mtu``) on ``lower`` straight in the
    netns of ``pid``: one RTM_NEWLINK with IFLA_NET_NS_PID, so nothing ever exists in the host,
    even when devbox is killed half-way (a create-then-move left a host link behind)."""
    with netlink.session() as ipr:
        pidx = netlink.index_of(ipr, lower)
        netlink.call(
            f"create macvlan {tmp} on {lower} in the network namespace of pid {pid}",
            lambda: ipr.link(
                "add",
                ifname=tmp,
                kind="macvlan",
                link=pidx,
                macvlan_mode="bridge",
                address=mac,
                mtu=mtu,
                net_ns_pid=pid,
            ),
        )


def _delete_index(ipr: Any, index: int, name: str) -> None:
    netlink.call(f"delete {name}", lambda: ipr.link("del", index=index))


def place_in_netns(
    netns: Path | str,
    tmp: str,
    ifname: str,
    busy_wait: float,
    replace_stale: Callable[[netlink.LinkInfo], bool],
) -> str:
    """Inside ``netns``: remove a stale ``ifname`` if ``replace_stale(info)`` allows (else
    fail), rename ``tmp`` to ``ifname``, switch SLAAC on for it (IPv6 addresses from the
    LAN's router advertisements) and bring it up. While the kernel still holds the MAC
    for an old interface (EBUSY/EADDRINUSE on up), retry for ``busy_wait`` seconds.
    Returns "" or a note about what was cleaned up."""

    def work() -> str:
        from pyroute2.netlink.exceptions import NetlinkError

        note = ""
        with netlink.session() as ipr:
            try:
                stale = [netlink.link_info(m) for m in ipr.link("get", ifname=ifname)]
            except NetlinkError:
                stale = []
            for info in stale:
                if not replace_stale(info):
                    raise netlink.NetlinkFailed(
                        f"an interface {ifname} ({info.kind or 'physical'}) "
                        "not made by devbox is in the way",
                        errno.EEXIST,
                    )
                _delete_index(ipr, info.index, ifname)
                note = f"removed stale {ifname} ({info.mac})"
            idx = netlink.index_of(ipr, tmp)
            netlink.call(
                f"rename {tmp} to {ifname}", lambda: ipr.link("set", index=idx, ifname=ifname)
            )
            # SLAAC on before the link comes up: its first router solicitation gets an answer
            addresses6.enable_slaac_here(ifname)
            netlink.retry_busy(
                lambda: netlink.call(
                    f"bring up {ifname}", lambda: ipr.link("set", index=idx, state="up")
                ),
                busy_wait,
            )
            return note

    return nsmod.run_in(netns, work)


def set_address(ifname: str, ip: str, prefixlen: int, gateway: str | None = None) -> None:
    """In the current network namespace: ``ip/prefixlen`` on ``ifname`` (replacing), and a
    default route via ``gateway`` when given."""
    with netlink.session() as ipr:
        idx = netlink.index_of(ipr, ifname)
        netlink.call(
            f"add {ip}/{prefixlen}",
            lambda: ipr.addr("replace", index=idx, address=ip, prefixlen=prefixlen),
        )
        if gateway:
            netlink.call(
                f"add default route via {gateway}",
                lambda: ipr.route("replace", dst="0.0.0.0/0", gateway=gateway, oif=idx),
            )
