"""What ``net show`` prints of a NIC record, and the spec ``attach`` compares it by (pure)."""

from __future__ import annotations

from devbox.model.leases import NicRecord, NicState
from devbox.services.network import _attachment


def _record(**changes: object) -> NicRecord:
    values: dict[str, object] = {
        "container": "c1",
        "container_id": "abc",
        "ifname": "lan0",
        "parent": "dbxlab0",
        "mac": "02:00:00:00:00:01",
        "mode": "dhcp",
        "hostname": "c1",
        "client_id": "01:02",
        "vlan": 42,
        "ip": "10.9.8.7",
        "prefixlen": 24,
        "gateway": "10.9.8.1",
        "obtained": 1000.0,
        "lease_time": 600,
    }
    return NicRecord(**{**values, **changes})  # type: ignore[arg-type]


def test_a_dhcp_record_shows_its_lease_expiry() -> None:
    att = _attachment(_record())
    assert att.to_dict() == {
        "container": "c1",
        "ifname": "lan0",
        "parent": "dbxlab0",
        "vlan": 42,
        "mac": "02:00:00:00:00:01",
        "mode": "dhcp",
        "ip": "10.9.8.7",
        "prefixlen": 24,
        "gateway": "10.9.8.1",
        "lease_expiry": 1600.0,
        "state": "bound",
        "hostname": "c1",
        "ipv6": [],  # what the kernel has: only show() reads it
    }
    assert att.cidr == "10.9.8.7/24"
    assert _attachment(_record(), ipv6=["fd12::1/64"]).to_dict()["ipv6"] == ["fd12::1/64"]


def test_a_static_record_has_no_expiry_and_show_may_see_another_state() -> None:
    att = _attachment(_record(mode="static", state=NicState.STATIC), NicState.MISSING)
    assert att.lease_expiry is None
    assert att.state == "missing"


def test_a_record_s_spec_is_what_it_was_plumbed_with() -> None:
    spec = _record().spec()
    assert (spec.container, spec.ifname, spec.parent, spec.mac, spec.mode) == (
        "c1",
        "lan0",
        "dbxlab0",
        "02:00:00:00:00:01",
        "dhcp",
    )
    assert (spec.vlan, spec.ip, spec.prefixlen, spec.gateway, spec.mtu) == (
        42,
        "10.9.8.7",
        24,
        "10.9.8.1",
        None,
    )
