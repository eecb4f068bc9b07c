"""Netlink helpers that need no container: the parent check's ioctls against netlink."""

from __future__ import annotations


def test_brief_agrees_with_netlink_and_says_none_for_a_missing_name() -> None:
    from devbox.adapters.net import netlink

    got = netlink.brief("lo")
    link = netlink.get_link("lo")
    assert got is not None and link is not None
    assert (got.index, got.mtu, got.up) == (link.index, link.mtu, link.up)
    for name in ("nosuchlink0", "", "x" * 20, "a/b", "a\0b"):
        assert netlink.brief(name) is None
