"""The DHCP client's resolv.conf text."""

from __future__ import annotations


def test_resolv_conf_text() -> None:
    from devbox.adapters.net.dhcp import resolv_conf_text

    assert resolv_conf_text(["10.0.0.1"], "lab").splitlines()[1:] == [
        "search lab",
        "nameserver 10.0.0.1",
    ]
