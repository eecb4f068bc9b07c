"""Netlink through pyroute2: the session and its errors, link lookups, links made, moved and
deleted, addresses and routes.

Every function works in the host's network namespace unless it takes ``netns`` (a path such
as ``/proc/PID/ns/net`` or ``/var/run/netns/NAME``, or an open fd of one): then its netlink
socket is made inside that namespace (:func:`devbox.adapters.net.netns.socket_in`, a window of
the one window thread) and used from the calling thread: no thread per call. Netlink errors
become devbox errors here.
A container's own LAN link is put in place by :mod:`devbox.adapters.net.container_link`; link
events are read by :mod:`devbox.adapters.net.link_watch`; both build on this module.
"""

from __future__ import annotations

import errno
import secrets
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from devbox.adapters.net import netns as nsmod
from devbox.errors import DevboxError, NotReadyError, OperationFailed
from devbox.waits import poll, wait_until

T = TypeVar("T")

NETLINK_ROUTE = 0
# errno values the kernel uses while an old device with the same MAC/name is still going away
BUSY_ERRNOS = {errno.EBUSY, errno.EADDRINUSE, errno.EEXIST, errno.ENOTUNIQ}


@dataclass(frozen=True)
class LinkInfo:
    index: int
    name: str
    kind: str  # "macvlan", "veth", "vlan", "" for physical
    mac: str
    mtu: int
    up: bool  # administratively up
    carrier: bool
    link: int  # parent ifindex (macvlan/vlan/veth peer), 0 when none
    macvlan_mode: str = ""


class NetlinkFailed(OperationFailed):
    def __init__(self, message: str, code: int, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.code = code


Netns = Path | str | int  # a namespace's path, or an open fd of one


def rtnl_socket() -> socket.socket:  # of the calling thread's namespace, for session(sock=)
    return socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_ROUTE)


@contextmanager
def session(netns: Netns | None = None, sock: socket.socket | None = None) -> Iterator[Any]:
    """An rtnetlink socket (pyroute2 ``IPRoute``), closed after: of the calling thread's netns,
    or made inside ``netns``, or ``sock`` (an rtnetlink socket, e.g. one made in a window)."""
    from pyroute2.iproute import IPRoute  # not pyroute2's __init__: adapters/host/memory.py

    try:
        if netns is not None and sock is None:
            sock = nsmod.socket_in(netns, socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_ROUTE)
        if sock is None:
            ipr = IPRoute()
        else:
            try:
                ipr = IPRoute(fileno=sock.detach())
            except BaseException:
                sock.close()
                raise
    except PermissionError as err:
        raise NotReadyError("netlink needs root", hint="run devbox as root") from err
    try:
        yield ipr
    finally:
        ipr.close()


def translate(what: str, err: BaseException) -> DevboxError:
    """The devbox error for netlink/OS error ``err`` while doing ``what``."""
    code = getattr(err, "code", None) or getattr(err, "errno", None) or 0
    text = errno.errorcode.get(code, "") if isinstance(code, int) else ""
    reason = str(err.args[1]) if len(getattr(err, "args", ())) > 1 else str(err)
    if code == errno.EPERM:
        return NotReadyError(f"{what}: permission denied", hint="run devbox as root")
    return NetlinkFailed(f"{what}: {reason}" + (f" ({text})" if text else ""), int(code or 0))


def call(what: str, fn: Callable[[], T]) -> T:
    """Run a pyroute2 call, turning netlink errors into devbox errors naming ``what``."""
    from pyroute2.netlink.exceptions import NetlinkError

    try:
        return fn()
    except NetlinkError as err:
        raise translate(what, err) from err
    except OSError as err:
        raise translate(what, err) from err


def in_netns(netns: Netns | None, fn: Callable[[], T]) -> T:  # a thread: for sysctl files
    if netns is None:
        return fn()
    return nsmod.run_in(netns, fn)


def link_info(msg: Any) -> LinkInfo:
    """A :class:`LinkInfo` from one RTM_NEWLINK message."""
    linkinfo = msg.get("IFLA_LINKINFO")
    kind = ""
    mode = ""
    if linkinfo is not None:
        kind = linkinfo.get("IFLA_INFO_KIND") or ""
        data = linkinfo.get("IFLA_INFO_DATA")
        if data is not None and kind == "macvlan":
            raw = data.get("IFLA_MACVLAN_MODE")
            mode = (
                {1: "private", 2: "vepa", 4: "bridge", 8: "passthru", 16: "source"}.get(
                    raw, str(raw)
                )
                if raw is not None
                else ""
            )
    flags = int(msg.get("flags", 0) or msg["flags"])
    return LinkInfo(
        index=int(msg["index"]),
        name=str(msg.get("IFLA_IFNAME")),
        kind=str(kind),
        mac=str(msg.get("IFLA_ADDRESS") or ""),
        mtu=int(msg.get("IFLA_MTU") or 0),
        up=bool(flags & 1),
        carrier=bool(msg.get("IFLA_CARRIER") or 0) or bool(flags & 0x10000),
        link=int(msg.get("IFLA_LINK") or 0),
        macvlan_mode=mode,
    )


def links(netns: Netns | None = None) -> list[LinkInfo]:
    def work() -> list[LinkInfo]:
        with session(netns) as ipr:
            return [link_info(m) for m in call("list links", ipr.get_links)]

    return work()


def get_link(name: str, netns: Netns | None = None) -> LinkInfo | None:
    """One interface by name (a single netlink request, not a dump); None if missing."""
    from pyroute2.netlink.exceptions import NetlinkError

    def work() -> LinkInfo | None:
        with session(netns) as ipr:
            try:
                msgs = ipr.link("get", ifname=name)
            except NetlinkError as err:
                if err.code in (errno.ENODEV, errno.EINVAL):
                    return None
                raise translate(f"look up interface {name}", err) from err
            for msg in msgs:
                return link_info(msg)
            return None

    return work()


def route_link(ip: str) -> tuple[LinkInfo, bool] | None:
    """The interface the kernel would send to ``ip`` from (a route lookup: nothing is sent),
    and whether ``ip`` is on its link (no gateway); None when there is no route."""
    from pyroute2.netlink.exceptions import NetlinkError

    with session() as ipr:
        try:
            routes = list(ipr.route("get", dst=ip))
        except NetlinkError as err:
            if err.code in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EINVAL):
                return None
            raise translate(f"route lookup for {ip}", err) from err
        for route in routes:
            oif = route.get("RTA_OIF")
            if oif is None:
                continue
            on_link = route.get("RTA_GATEWAY") is None and route.get("type", 1) == 1
            index = int(oif)
            for msg in call(f"look up interface {index}", partial(ipr.link, "get", index=index)):
                return link_info(msg), on_link
    return None


SIOCGIFFLAGS, SIOCGIFMTU, IFF_UP, IFNAMSIZ = 0x8913, 0x8921, 0x1, 16


@dataclass(frozen=True)
class LinkBrief:  # what an attach checks of its parent (up: administratively)
    index: int
    mtu: int
    up: bool


def brief(name: str) -> LinkBrief | None:
    """Index, MTU and up flag of ``name`` in the calling thread's namespace from three ioctls
    on one datagram socket (no netlink session: a parent checked on every attach); None when
    there is no such interface."""
    import fcntl
    import struct

    raw = name.encode()
    try:  # (no errno when there is none: "no interface with this name")
        index = socket.if_nametoindex(name) if 0 < len(raw) < IFNAMSIZ else 0
    except (OSError, ValueError):
        index = 0
    if not index:
        return None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            flags = fcntl.ioctl(sock, SIOCGIFFLAGS, struct.pack("16sH22x", raw, 0))
            mtu = fcntl.ioctl(sock, SIOCGIFMTU, struct.pack("16si20x", raw, 0))
        except OSError as err:
            if err.errno in (errno.ENODEV, errno.ENXIO):
                return None
            raise translate(f"look up interface {name}", err) from err
    return LinkBrief(
        index=index,
        mtu=struct.unpack_from("i", mtu, 16)[0],
        up=bool(struct.unpack_from("H", flags, 16)[0] & IFF_UP),
    )


def index_of(ipr: Any, name: str) -> int:
    """The ifindex of ``name`` through session ``ipr``; NetlinkFailed (ENODEV) when missing."""
    from pyroute2.netlink.exceptions import NetlinkError

    try:
        for msg in ipr.link("get", ifname=name):
            return int(msg["index"])
    except NetlinkError as err:
        if err.code not in (errno.ENODEV, errno.EINVAL):
            raise translate(f"look up interface {name}", err) from err
    raise NetlinkFailed(f"no interface named {name}", errno.ENODEV)


def delete_link(name: str, netns: Netns | None = None) -> bool:
    """Delete interface ``name``; False when it did not exist."""

    def work() -> bool:
        with session(netns) as ipr:
            try:
                idx = index_of(ipr, name)
            except NetlinkFailed:
                return False
            try:
                call(f"delete interface {name}", lambda: ipr.link("del", index=idx))
            except NetlinkFailed as err:
                if err.code == errno.ENODEV:
                    return False
                raise
            return True

    return work()


def discard(name: str, netns: Path | str | None = None) -> None:
    """Delete interface ``name`` if it exists (for undo steps)."""
    delete_link(name, netns)


def set_up(name: str, netns: Netns | None = None) -> None:
    def work() -> None:
        with session(netns) as ipr:
            idx = index_of(ipr, name)
            call(f"bring up {name}", lambda: ipr.link("set", index=idx, state="up"))

    work()


def create_veth(host_name: str, peer_name: str, peer_netns: str) -> None:
    """A veth pair: ``host_name`` stays in the host, ``peer_name`` lands in named netns
    ``peer_netns``. Both come up. On failure nothing is left in the host."""
    tmp = "dbxv" + secrets.token_hex(4)
    with session() as ipr:
        call(
            f"create veth pair {host_name}",
            lambda: ipr.link("add", ifname=host_name, kind="veth", peer={"ifname": tmp}),
        )
        try:
            peer_idx = index_of(ipr, tmp)
            call(
                f"move {tmp} into netns {peer_netns}",
                lambda: ipr.link(
                    "set", index=peer_idx, net_ns_fd=str(nsmod.named_path(peer_netns))
                ),
            )
            host_idx = index_of(ipr, host_name)
            call(f"bring up {host_name}", lambda: ipr.link("set", index=host_idx, state="up"))
        except BaseException:
            for idx in ipr.link_lookup(ifname=host_name):
                ipr.link("del", index=idx)
            raise

    def inside() -> None:
        with session(nsmod.named_path(peer_netns)) as ipr:
            idx = index_of(ipr, tmp)
            call(
                f"rename {tmp} to {peer_name}", lambda: ipr.link("set", index=idx, ifname=peer_name)
            )
            call(f"bring up {peer_name}", lambda: ipr.link("set", index=idx, state="up"))

    try:
        inside()
    except BaseException:
        delete_link(host_name)
        raise


def create_macvlan(
    parent: str, name: str, mac: str | None = None, mtu: int | None = None, up: bool = False
) -> int:
    """A macvlan (bridge mode) ``name`` on ``parent`` in the host; returns its ifindex."""
    with session() as ipr:
        pidx = index_of(ipr, parent)
        spec: dict[str, Any] = {
            "ifname": name,
            "kind": "macvlan",
            "link": pidx,
            "macvlan_mode": "bridge",
        }
        if mac:
            spec["address"] = mac
        if mtu:
            spec["mtu"] = mtu
        call(f"create macvlan {name} on {parent}", lambda: ipr.link("add", **spec))
        idx = index_of(ipr, name)
        if up:
            call(f"bring up {name}", lambda: ipr.link("set", index=idx, state="up"))
        return idx


def create_vlan(parent: str, name: str, vid: int, netns: Netns | None = None) -> None:
    """An 802.1Q sub-interface ``name`` (VLAN ``vid``) on ``parent``, brought up."""

    def work() -> None:
        with session(netns) as ipr:
            pidx = index_of(ipr, parent)
            call(
                f"create VLAN {vid} interface {name} on {parent}",
                lambda: ipr.link("add", ifname=name, kind="vlan", link=pidx, vlan_id=vid),
            )
            idx = index_of(ipr, name)
            call(f"bring up {name}", lambda: ipr.link("set", index=idx, state="up"))

    work()


def preload() -> None:
    """Import pyroute2 now (a make does it while Docker works, to save ~0.1 s later)."""
    import pyroute2  # noqa: F401


def move_to_pid(name: str, pid: int) -> None:
    with session() as ipr:
        idx = index_of(ipr, name)
        call(
            f"move {name} into the network namespace of pid {pid}",
            lambda: ipr.link("set", index=idx, net_ns_pid=pid),
        )


def move_to_netns(name: str, netns_path: Path | str) -> None:
    with session() as ipr:
        idx = index_of(ipr, name)
        call(
            f"move {name} into network namespace {netns_path}",
            lambda: ipr.link("set", index=idx, net_ns_fd=str(netns_path)),
        )


def rename_up(old: str, new: str, netns: Netns | None = None) -> None:
    def work() -> None:
        with session(netns) as ipr:
            idx = index_of(ipr, old)
            if old != new:
                call(f"rename {old} to {new}", lambda: ipr.link("set", index=idx, ifname=new))
            call(f"bring up {new}", lambda: ipr.link("set", index=idx, state="up"))

    work()


def add_address(
    name: str, address: str, prefixlen: int, netns: Netns | None = None, replace: bool = True
) -> None:
    def work() -> None:
        with session(netns) as ipr:
            idx = index_of(ipr, name)
            call(
                f"add address {address}/{prefixlen} to {name}",
                lambda: ipr.addr(
                    "replace" if replace else "add", index=idx, address=address, prefixlen=prefixlen
                ),
            )

    work()


def addresses(name: str, netns: Netns | None = None) -> list[tuple[str, int]]:
    def work() -> list[tuple[str, int]]:
        with session(netns) as ipr:
            try:
                idx = index_of(ipr, name)
            except NetlinkFailed:
                return []
            return [
                (str(a.get("IFA_ADDRESS")), int(a["prefixlen"]))
                for a in ipr.get_addr(index=idx, family=2)
            ]

    return work()


def wait_gone(
    match: Callable[[LinkInfo], bool], timeout: float, netns: Path | str | None = None
) -> bool:
    """Poll until no link matches (bounded); True when none is left."""
    return bool(poll(lambda: not any(match(li) for li in links(netns)), timeout, 0.1))


def retry_busy(fn: Callable[[], T], timeout: float, interval: float = 0.1) -> T:
    """``fn()``, tried again every ``interval`` seconds while it fails with a busy errno
    (:data:`BUSY_ERRNOS`: the kernel still holds the name or MAC for an old interface), for
    ``timeout`` seconds; then its last error. Any other error raises at once."""
    done: list[T] = []
    busy: list[NetlinkFailed] = []

    def attempt() -> bool:
        try:
            done.append(fn())
        except NetlinkFailed as err:
            if err.code not in BUSY_ERRNOS:
                raise
            busy[:] = [err]
            return False
        return True

    wait_until(attempt, timeout, interval, "a busy link", error=lambda: busy[-1])
    return done[0]
