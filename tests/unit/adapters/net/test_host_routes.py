"""The host's networks as netlink tells them (read only)."""

from __future__ import annotations

import ipaddress

from devbox.adapters.net import host_routes


def test_loopback_and_no_default_route_are_listed_as_they_are() -> None:
    networks = host_routes.ipv4_networks()
    assert ("127.0.0.0/8", "lo") in networks
    assert all(ipaddress.IPv4Network(net).prefixlen > 0 for net, _ in networks)
