"""MACs: derived from the name, stable, locally administered unicast; bad MACs refused."""

from __future__ import annotations

import pytest

from devbox.errors import UserError
from devbox.model import macs


def test_derived_mac_is_stable_local_unicast_and_distinct() -> None:
    a = macs.derive_mac("alice-main")
    assert a == macs.derive_mac("alice-main")
    assert a != macs.derive_mac("alice-main2")
    first = int(a.split(":")[0], 16)
    assert first & 0x02 and not first & 0x01
    assert macs.parse_mac(a) == a
    assert macs.mac_for_name("alice-main") == a
    names = [f"c{i}" for i in range(2000)]
    assert len({macs.derive_mac(n) for n in names}) == len(names)


@pytest.mark.parametrize(
    "text", ["", "zz:00:00:00:00:01", "02:00:00:00:00", "0200.0000.0001", "02:00:00:00:00:01:02"]
)
def test_bad_mac_rejected(text: str) -> None:
    with pytest.raises(UserError, match="not a MAC"):
        macs.parse_mac(text)


def test_multicast_and_zero_mac_rejected() -> None:
    with pytest.raises(UserError, match="multicast"):
        macs.parse_mac("01:00:5e:00:00:01")
    with pytest.raises(UserError, match="all zeros"):
        macs.parse_mac("00:00:00:00:00:00")
    assert macs.parse_mac("02-AA-bb-CC-dd-EE") == "02:aa:bb:cc:dd:ee"


def test_client_id_is_stable() -> None:
    assert macs.client_id("x") == macs.client_id("x") == b"devbox:x"
