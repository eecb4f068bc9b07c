"""A container's LAN link, put in place from the host: a macvlan made straight in the
container's network namespace, renamed over a stale one there, and given a static address.

The namespace is an open fd devbox holds from the first step to the last (opened from the PID
Docker gave it: a reused PID never points a later step at another namespace). Placing the link
makes one netlink socket inside it, in one window of the window thread
(:func:`devbox.adapters.net.netns.window`), and does every step through it from the caller's
thread: no thread, no new socket per step.

Built on the session and lookups of :mod:`devbox.adapters.net.netlink` (errors are its
:class:`~devbox.adapters.net.netlink.NetlinkFailed`)."""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from devbox.adapters.net import addresses6, netlink
from devbox.adapters.net import netns as nsmod


def create_macvlan_in_pid(
    lower: str, tmp: str, pid: int, mac: str, mtu: int, ns_fd: int | None = None
) -> None:
    """Create macvlan ``tmp`` (bridge mode, ``mac``, ``mtu``) on ``lower`` straight in the
    netns of ``pid`` (the open fd ``ns_fd`` of it, when given): one RTM_NEWLINK with
    IFLA_NET_NS_PID (or _FD), so nothing ever exists in the host, even when devbox is killed
    half-way (a create-then-move left a host link behind)."""
    where: dict[str, int] = {"net_ns_pid": pid} if ns_fd is None else {"net_ns_fd": ns_fd}
    lower_link = netlink.brief(lower)
    if lower_link is None:
        raise netlink.NetlinkFailed(f"no interface named {lower}", errno.ENODEV)
    pidx = lower_link.index
    with netlink.session() as ipr:
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
                **where,
            ),
        )


def _delete_index(ipr: Any, index: int, name: str) -> None:
    netlink.call(f"delete {name}", lambda: ipr.link("del", index=index))


def place_in_netns(
    netns: Path | str | int,
    tmp: str,
    ifname: str,
    busy_wait: float,
    replace_stale: Callable[[netlink.LinkInfo], bool],
) -> str:
    """Inside ``netns`` (a path or an open fd): switch SLAAC on for ``tmp`` (IPv6 addresses
    from the LAN's router advertisements: a setting of the device, kept when it is renamed),
    remove a stale ``ifname`` if ``replace_stale(info)`` allows (else fail), rename ``tmp`` to
    ``ifname`` and bring it up. While the kernel still holds the MAC for an old interface
    (EBUSY/EADDRINUSE on up), retry for ``busy_wait`` seconds. One window makes the netlink
    socket and writes the SLAAC settings (before the link comes up: its first router
    solicitation gets an answer); the rest goes through that socket from this thread.
    Returns "" or a note about what was cleaned up."""
    from pyroute2.netlink.exceptions import NetlinkError

    def enter() -> tuple[socket.socket, int, bool]:
        sock = netlink.rtnl_socket()
        try:
            idx = socket.if_nametoindex(tmp)
            addresses6.enable_slaac_here(tmp)
            try:  # an ioctl: netlink asks only when there is one (its kind, MAC)
                socket.if_nametoindex(ifname)
                taken = True
            except OSError:
                taken = False
        except OSError as err:
            sock.close()
            raise netlink.NetlinkFailed(f"no interface named {tmp}", errno.ENODEV) from err
        except BaseException:
            sock.close()
            raise
        return sock, idx, taken

    note = ""
    sock, idx, taken = nsmod.window(netns, enter)
    with netlink.session(sock=sock) as ipr:
        stale = []
        if taken:
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
        netlink.call(f"rename {tmp} to {ifname}", lambda: ipr.link("set", index=idx, ifname=ifname))
        netlink.retry_busy(
            lambda: netlink.call(
                f"bring up {ifname}", lambda: ipr.link("set", index=idx, state="up")
            ),
            busy_wait,
        )
    return note


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
