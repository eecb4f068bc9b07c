"""IPv6 addresses of a container's LAN link: which ones a listing shows, and SLAAC never
switched on in the host's own network namespace."""

from __future__ import annotations

from typing import Any

import pytest

from devbox.adapters.net import addresses6
from devbox.errors import OperationFailed


def msg(address: str, scope: int, flags: int = 0, prefixlen: int = 64) -> dict[str, Any]:
    """What the fields of an RTM_NEWADDR message give through ``.get``."""
    return {"IFA_ADDRESS": address, "scope": scope, "IFA_FLAGS": flags, "prefixlen": prefixlen}


def test_global_and_ula_shown_link_local_only_when_asked() -> None:
    assert addresses6._usable(msg("fd12::5", 0), False) == ("fd12::5", 64)
    assert addresses6._usable(msg("2001:db8::5", 0), False) == ("2001:db8::5", 64)
    assert addresses6._usable(msg("fe80::5", 253), False) is None
    assert addresses6._usable(msg("fe80::5", 253), True) == ("fe80::5", 64)
    assert addresses6._usable(msg("::1", 254, prefixlen=128), True) is None  # host scope


def test_tentative_and_failed_addresses_are_not_shown() -> None:
    assert addresses6._usable(msg("fd12::5", 0, addresses6.IFA_F_TENTATIVE), False) is None
    assert addresses6._usable(msg("fd12::5", 0, addresses6.IFA_F_DADFAILED), False) is None
    assert addresses6._usable(msg("fd12::5", 0, 0x100), False) == ("fd12::5", 64)  # managetmp


def test_slaac_is_never_switched_on_in_the_hosts_namespace() -> None:
    # the test's main thread is in the host's namespace: refused before any sysctl is opened
    with pytest.raises(OperationFailed, match="host's network namespace"):
        addresses6.enable_slaac_here("eth0")


def test_no_addresses_for_the_hosts_own_namespace_or_a_gone_process() -> None:
    import os

    assert addresses6.lan_addresses(os.getpid(), "lo", "00:00:00:00:00:00") == []
    assert addresses6.lan_addresses(0, "lan0", "02:00:00:00:00:01") == []
    assert addresses6.lan_addresses(2**22 + 12345, "lan0", "02:00:00:00:00:01") == []


def test_lab_link_settings_never_touch_a_physical_nic() -> None:
    # lo is no link the lab made (kind ""): refused before any sysctl is opened
    with pytest.raises(OperationFailed, match="not a link the lab made"):
        addresses6.configure_lab_link("lo", addresses6.NO_RA)
    assert addresses6.configure_lab_link("dbxnosuch0", addresses6.NO_RA) is False


IF_INET6 = """\
fe8000000000000000fc00fffe000001 04 40 20 80     lan0
fd4a1b2c3d4e00010000000000000001 04 40 00 00     lan0
fd4a1b2c3d4e000100000000000000aa 04 40 00 40     lan0
20010db8000000000000000000000002 05 40 00 80     eth1
00000000000000000000000000000001 01 80 10 80       lo
garbage line
"""


def test_the_proc_table_gives_the_links_global_addresses_only() -> None:
    from devbox.adapters.net.addresses6 import parse_if_inet6

    # link-local, tentative (0x40), other links and loopback left out
    assert parse_if_inet6(IF_INET6, "lan0") == [("fd4a:1b2c:3d4e:1::1", 64)]
    assert parse_if_inet6(IF_INET6, "lan0", link_local=True) == [
        ("fe80::fc:ff:fe00:1", 64),
        ("fd4a:1b2c:3d4e:1::1", 64),
    ]
    assert parse_if_inet6(IF_INET6, "nope") == []


def test_the_proc_table_of_the_hosts_own_namespace_is_never_read() -> None:
    import os

    from devbox.adapters.net.addresses6 import proc_addresses

    assert proc_addresses(os.getpid(), "lo") == []  # this process: the host's namespace
    assert proc_addresses(0, "lan0") == []
