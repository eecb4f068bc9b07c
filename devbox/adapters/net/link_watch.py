"""Link events as they come: a plain rtnetlink socket read with a time-out (what the daemon
watches to see a LAN parent come back)."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

from devbox.adapters.net import netlink


@dataclass(frozen=True)
class LinkEvent:
    """One rtnetlink link message: ``event`` is "new" (appeared or changed) or "del"."""

    event: str
    name: str
    index: int
    up: bool  # administratively up (IFF_UP)


def link_events(poll: float = 0.5) -> Generator[LinkEvent | None, None, None]:
    """Link events (RTM_NEWLINK / RTM_DELLINK) of the calling thread's network namespace (the
    host's, for the daemon), as they come; ``None`` after every ``poll`` seconds without any,
    so the consumer can check whether to stop (close the generator to stop listening).

    A plain rtnetlink socket read with a timeout, parsed by pyroute2 (its IPRoute reads ahead
    into a queue of its own, so a wait on its socket can miss messages already read). If the
    kernel dropped events (ENOBUFS: the socket buffer overflowed) this raises
    :class:`~devbox.adapters.net.netlink.NetlinkFailed`; the caller re-checks what it
    watches and opens a new one."""
    import socket

    from pyroute2.netlink.rtnl import RTMGRP_LINK
    from pyroute2.netlink.rtnl.marshal import MarshalRtnl

    marshal = MarshalRtnl()
    try:
        sock = socket.socket(
            socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE
        )
    except OSError as err:
        raise netlink.translate("open a netlink socket", err) from err
    try:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            sock.bind((0, RTMGRP_LINK))
        except OSError as err:
            raise netlink.translate("listen to link events", err) from err
        sock.settimeout(poll)
        while True:
            try:
                data = sock.recv(1 << 16)
            except TimeoutError:
                yield None
                continue
            except OSError as err:
                raise netlink.translate("read link events", err) from err
            for msg in marshal.parse(data):
                kind = msg.get("event")
                if kind not in ("RTM_NEWLINK", "RTM_DELLINK"):
                    continue
                yield LinkEvent(
                    event="new" if kind == "RTM_NEWLINK" else "del",
                    name=str(msg.get("IFLA_IFNAME") or ""),
                    index=int(msg.get("index") or 0),
                    up=bool(int(msg.get("flags") or 0) & 1),
                )
    finally:
        sock.close()
