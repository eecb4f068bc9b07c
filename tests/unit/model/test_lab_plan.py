"""The lab LAN plan: addresses, interface names, settings checked, the dnsmasq config and its
lease file."""

from __future__ import annotations

from pathlib import Path

import pytest

from devbox import config
from devbox.errors import UserError
from devbox.model.lab_plan import (
    parse_leases,
    plan,
    shim_name,
    subnet_clash,
    ula_gateway,
    ula_prefix,
    vlan_ifname,
)


def cfg(**env: str) -> config.Config:
    base = {"DEVBOX_ROOT": "/tmp/dbx-unit"}
    base.update(env)
    return config.load(environ=base, files=())


def test_lab_plan_addresses() -> None:
    p = plan(cfg(DEVBOX_LAB_SUBNET="10.214.9.0/24", DEVBOX_LAB_UPLINK="up0"))
    assert (p.gateway, p.shim_address) == ("10.214.9.1", "10.214.9.2")
    assert (p.range_start, p.range_end) == ("10.214.9.100", "10.214.9.250")
    assert p.shim == "up0-s" and p.dir == Path("/tmp/dbx-unit/lab")


def test_shim_and_vlan_names_fit_ifnamsiz() -> None:
    assert len(shim_name("a-very-long-nic0")) <= 15
    assert shim_name("a-very-long-nic0") == shim_name("a-very-long-nic0")
    assert vlan_ifname("eth1", 42) == "eth1.42"
    assert len(vlan_ifname("abcdefghijklmn", 4094)) <= 15


@pytest.mark.parametrize(
    "env,match",
    [
        ({"DEVBOX_LAB_RANGE_START": "1"}, "does not fit"),
        ({"DEVBOX_LAB_RANGE_END": "300"}, "does not fit"),
        ({"DEVBOX_LAB_LEASE_TIME": "30s"}, "minimum"),
        ({"DEVBOX_LAB_LEASE_TIME": "soon"}, "not a dnsmasq lease time"),
        ({"DEVBOX_LAB_UPLINK": "much-too-long-name"}, "not a valid interface name"),
    ],
)
def test_lab_plan_rejects_bad_settings(env: dict[str, str], match: str) -> None:
    with pytest.raises(UserError, match=match):
        plan(cfg(**env))


def test_vlan_ids_checked() -> None:
    with pytest.raises(UserError, match="out of range"):
        plan(cfg(), vlans=(4095,))
    p = plan(cfg(DEVBOX_LAB_SUBNET="10.214.9.0/24"), vlans=(42,))
    seg = p.vlans[0]
    assert seg.subnet == "10.214.51.0/24" and seg.interface == "lab0.42"


def test_a_subnet_the_host_reaches_elsewhere_clashes() -> None:
    p = plan(cfg(DEVBOX_LAB_SUBNET="10.214.9.0/24", DEVBOX_LAB_UPLINK="up0"), vlans=(42,))
    own = [("10.214.9.0/24", p.shim)]  # the lab's own shim: a lab brought up again
    assert subnet_clash(p, [*own, ("127.0.0.0/8", "lo"), ("10.214.10.0/24", "x")]) is None
    wider = subnet_clash(p, [("10.214.0.0/16", "vpn0")])
    assert wider is not None and "10.214.9.0/24 overlaps 10.214.0.0/16 on vpn0" in wider
    inside = subnet_clash(p, [("10.214.9.128/25", "eth1")])
    assert inside is not None and "on eth1" in inside
    segment = subnet_clash(p, [("10.214.51.7/32", "other-s")])  # the VLAN segment's subnet
    assert segment is not None and "10.214.51.0/24 overlaps" in segment


def test_renewal_time_is_t1_within_the_lease() -> None:
    from devbox.adapters import templates

    p = plan(cfg(DEVBOX_LAB_LEASE_TIME="2m", DEVBOX_LAB_RENEWAL_TIME="15"))
    assert p.renewal_time == 15
    lines = templates.render("dnsmasq.conf.j2", p.template_context()).splitlines()
    assert "dhcp-option=tag:lab,option:T1,15" in lines
    default = plan(cfg()).template_context()
    assert "option:T1" not in templates.render("dnsmasq.conf.j2", default)
    for bad in ("120", "-1"):  # the lease's 120 s or more, or negative
        with pytest.raises(UserError, match=r"lab\.renewal_time"):
            plan(cfg(DEVBOX_LAB_LEASE_TIME="2m", DEVBOX_LAB_RENEWAL_TIME=bad))


def test_dnsmasq_config_rendering() -> None:
    from devbox.adapters import templates

    p = plan(cfg(DEVBOX_LAB_SUBNET="10.214.9.0/24", DEVBOX_LAB_LEASE_TIME="2m"))
    text = templates.render("dnsmasq.conf.j2", p.template_context())
    lines = text.splitlines()
    assert "interface=lab0" in lines and "bind-interfaces" in lines
    assert "dhcp-range=set:lab,10.214.9.100,10.214.9.250,255.255.255.0,2m" in lines
    assert "dhcp-option=tag:lab,option:router,10.214.9.1" in lines
    assert "no-ping" in lines and "no-resolv" in lines
    assert f"dhcp-leasefile={p.lease_file}" in lines and f"pid-file={p.pid_file}" in lines
    assert not any(line.startswith("server=") for line in lines)  # never upstream
    pinging = templates.render(
        "dnsmasq.conf.j2", plan(cfg(DEVBOX_LAB_PING_CHECK="true")).template_context()
    )
    assert "no-ping" not in pinging.splitlines()
    vlan = templates.render("dnsmasq.conf.j2", plan(cfg(), vlans=(42,)).template_context())
    assert "interface=lab0.42" in vlan.splitlines()


def test_ula_prefix_is_a_stable_unique_local_64_per_lab() -> None:
    import ipaddress

    one = ula_prefix("dbxt1234l", "10.214.9.0/24")
    assert one == ula_prefix("dbxt1234l", "10.214.9.0/24")  # the same lab, the same prefix
    assert one.prefixlen == 64 and one.subnet_of(ipaddress.IPv6Network("fd00::/8"))
    assert one.is_private and not one.is_link_local
    assert int(one.network_address) >> 80 & (2**40 - 1) != 0  # a global ID, never fd00::
    assert int(one.network_address) >> 64 & 0xFFFF == 0  # subnet ID 0: the untagged lab
    # several labs of one test run (other name or other subnet) do not collide
    others = {
        ula_prefix(f"dbxt1234{tag}", f"10.214.{octet}.0/24")
        for tag in ("l", "h", "x")
        for octet in (9, 10, 11)
    }
    assert len(others) == 9
    assert ula_prefix("dbxt1234l", "10.214.10.0/24") != one
    # a VLAN segment: the lab's global ID, its VLAN id as the subnet ID
    seg = ula_prefix("dbxt1234l", "10.214.9.0/24", 42)
    assert int(seg.network_address) >> 64 == (int(one.network_address) >> 64) + 42
    assert ula_gateway(one) == str(one.network_address + 1)
    with pytest.raises(ValueError, match="out of range"):
        ula_prefix("x", "10.0.0.0/24", 70000)


def test_lab_plan_ipv6_prefix_and_gateway() -> None:
    p = plan(cfg(DEVBOX_LAB_NAME="lab-a", DEVBOX_LAB_SUBNET="10.214.9.0/24"), vlans=(42,))
    assert p.ipv6_prefix == str(ula_prefix("lab-a", "10.214.9.0/24"))
    assert p.ipv6_gateway.endswith("::1") and p.ipv6_base == p.ipv6_prefix.split("/")[0]
    assert p.ipv6_shim_address == p.ipv6_base + "2"  # P::2, as S.2 for IPv4
    seg = p.vlans[0]
    assert seg.ipv6_prefix == str(ula_prefix("lab-a", "10.214.9.0/24", 42))
    bare = p.without_ipv6()
    assert (bare.ipv6_prefix, bare.ipv6_gateway, bare.vlans[0].ipv6_prefix) == ("", "", "")
    assert bare.ipv6_shim_address == ""
    assert bare.gateway == p.gateway  # IPv4 as it was


def test_dnsmasq_config_advertises_the_ula_prefix() -> None:
    from devbox.adapters import templates

    p = plan(cfg(DEVBOX_LAB_SUBNET="10.214.9.0/24"), vlans=(42,))
    lines = templates.render("dnsmasq.conf.j2", p.template_context()).splitlines()
    base = p.ipv6_base
    assert base.startswith("fd") and base.endswith("::")
    assert "enable-ra" in lines
    # router advertisements only (SLAAC), no DHCPv6; router lifetime 0: never a default route
    assert f"dhcp-range=set:lab6,{base},ra-only,64" in lines
    assert "ra-param=lab0,10,0" in lines
    seg = p.vlans[0]
    assert f"dhcp-range=set:vlan42v6,{seg.ipv6_base},ra-only,64" in lines
    assert "ra-param=lab0.42,10,0" in lines
    assert not any("ra-stateless" in line or "ra-names" in line for line in lines)
    # a kernel without IPv6: no IPv6 line at all
    bare = templates.render("dnsmasq.conf.j2", p.without_ipv6().template_context()).splitlines()
    assert "enable-ra" not in bare and not any(line.startswith("ra-param") for line in bare)
    assert not any(",ra-only" in line for line in bare)


def test_parse_dnsmasq_leases() -> None:
    text = (
        "1795449146 e2:66:7d:76:2f:c8 10.214.77.204 box1 00:64:65\n"
        "0 02:00:00:00:00:01 10.214.77.101 * *\n"
        "garbage\n"
    )
    leases = parse_leases(text)
    assert [(le.ip, le.hostname, le.client_id) for le in leases] == [
        ("10.214.77.204", "box1", "00:64:65"),
        ("10.214.77.101", "", ""),
    ]
