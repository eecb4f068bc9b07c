"""The IPv4 networks this host already reaches directly: its interfaces' addresses and the
routes of every table but the kernel's local one (a VPN's policy routing keeps its networks in
a table of its own), each with the interface that holds it (read over netlink, nothing sent).
A lab brought up on one of them would take the host's traffic for it, or lose its own."""

from __future__ import annotations

import ipaddress
import socket

from devbox.adapters.net import netlink

LOCAL_TABLE = 255  # the kernel's own: this host's addresses and broadcasts, read as addresses
UNICAST = 1


def ipv4_networks() -> list[tuple[str, str]]:
    """``(network, interface)`` for every IPv4 address and unicast route on this host (default
    routes left out: they overlap every subnet by design)."""
    out: list[tuple[str, str]] = []
    with netlink.session() as ipr:
        names = {
            int(msg["index"]): str(msg.get_attr("IFLA_IFNAME") or msg["index"])
            for msg in netlink.call("list interfaces", ipr.get_links)
        }
        for msg in netlink.call("list addresses", lambda: ipr.get_addr(family=socket.AF_INET)):
            address = msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS")
            if address:
                net = ipaddress.ip_network(f"{address}/{msg['prefixlen']}", strict=False)
                out.append((str(net), names.get(int(msg["index"]), "?")))
        for msg in netlink.call("list routes", lambda: ipr.get_routes(family=socket.AF_INET)):
            table = msg.get_attr("RTA_TABLE") or msg["table"]
            if table == LOCAL_TABLE or msg["type"] != UNICAST:
                continue
            dst, length, oif = msg.get_attr("RTA_DST"), int(msg["dst_len"]), msg.get_attr("RTA_OIF")
            if dst and length:
                net = ipaddress.ip_network(f"{dst}/{length}", strict=False)
                out.append((str(net), names.get(int(oif), "?") if oif is not None else "?"))
    return out
