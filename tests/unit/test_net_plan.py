"""Pure networking logic: MAC derivation, dnsmasq config, lease math, reconcile planning."""

from __future__ import annotations

from pathlib import Path

import pytest

from devbox import config
from devbox.errors import UserError
from devbox.model import macs
from devbox.model.lab_plan import parse_leases, plan, shim_name, vlan_ifname
from devbox.model.leases import (
    Action,
    ContainerView,
    NicRecord,
    NicState,
    can_move,
    lease_deadlines,
    parse_static,
    phase,
    plan_reconcile,
)


def cfg(**env: str) -> config.Config:
    base = {"DEVBOX_ROOT": "/tmp/dbx-unit"}
    base.update(env)
    return config.load(environ=base, files=())


# --- MACs ----------------------------------------------------------------------------------


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


# --- lab plan and dnsmasq config -----------------------------------------------------------


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


# --- leases --------------------------------------------------------------------------------


def test_lease_deadlines_rfc_defaults_and_server_values() -> None:
    assert lease_deadlines(1000.0, 120) == (1060.0, 1105.0, 1120.0)
    assert lease_deadlines(0.0, 100, 30, 70) == (30, 70, 100)
    assert lease_deadlines(0.0, 0xFFFFFFFF) == (None, None, None)
    assert lease_deadlines(0.0, 100, 80, 50) == (80, 80, 100)  # T2 never before T1


def test_lease_phase() -> None:
    assert phase(10, 0, 120) == NicState.BOUND
    assert phase(70, 0, 120) == NicState.RENEWING
    assert phase(110, 0, 120) == NicState.REBINDING
    assert phase(121, 0, 120) == NicState.UNBOUND


def test_state_transitions() -> None:
    assert can_move(NicState.BOUND, NicState.RENEWING)
    assert can_move(NicState.STOPPED, NicState.BOUND)
    assert not can_move(NicState.DETACHING, NicState.BOUND)
    assert not can_move(NicState.STATIC, NicState.RENEWING)


def test_parse_static() -> None:
    assert parse_static("10.1.2.3/24", "10.1.2.1") == ("10.1.2.3", 24, "10.1.2.1")
    for bad, match in (
        ("10.1.2.3", "prefix"),
        ("10.1.2.0/24", "network or broadcast"),
        ("224.0.0.1/24", "unicast"),
        ("x/24", "not an IPv4"),
    ):
        with pytest.raises(UserError, match=match):
            parse_static(bad, None)
    with pytest.raises(UserError, match="not in"):
        parse_static("10.1.2.3/24", "10.9.9.1")


def _rec(name: str, cid: str = "id1", pid: int = 10, state: str = "bound") -> NicRecord:
    return NicRecord(
        container=name,
        container_id=cid,
        ifname="lan0",
        parent="p",
        mac="02:..",
        mode="dhcp",
        hostname=name,
        client_id=f"devbox:{name}",
        pid=pid,
        state=state,
    )


def test_plan_reconcile() -> None:
    records = [
        _rec("adopt"),
        _rec("restarted"),
        _rec("stopped"),
        _rec("gone"),
        _rec("replaced"),
        _rec("detaching", state="detaching"),
        _rec("noiface"),
    ]
    containers = [
        ContainerView("adopt", "id1", True, 10, False),
        ContainerView("restarted", "id1", True, 99, False),
        ContainerView("stopped", "id1", False, 0, False),
        ContainerView("replaced", "id2", True, 5, True),
        ContainerView("detaching", "id1", True, 10, False),
        ContainerView("noiface", "id1", True, 10, False),
        ContainerView("labelled", "id9", True, 7, True),
        ContainerView("labelled-stopped", "id8", False, 0, True),
    ]
    present = {"adopt.lan0": True, "noiface.lan0": False}
    got = dict((key, action) for action, key in plan_reconcile(records, containers, present))
    assert got == {
        "adopt.lan0": Action.ADOPT,
        "restarted.lan0": Action.REPLUMB,
        "stopped.lan0": Action.PAUSE,
        "gone.lan0": Action.CLEANUP,
        "replaced.lan0": Action.CLEANUP,
        "replaced": Action.PLUMB,
        "noiface.lan0": Action.REPLUMB,
        "labelled": Action.PLUMB,
    }


def test_record_roundtrip_and_expiry() -> None:
    rec = _rec("x")
    rec.obtained, rec.lease_time = 100.0, 120
    again = NicRecord.from_dict({**rec.to_dict(), "unknown_future_field": 1})
    assert again == rec and again.expires_at == 220.0


def test_apply_lease_folds_renewal_with_new_address() -> None:
    from devbox.adapters.net.dhcp import LeaseInfo
    from devbox.services.nic import apply_lease

    rec = _rec("x")
    info = LeaseInfo(
        "10.0.0.5", 24, "10.0.0.1", ["10.0.0.1"], "lab", 120, None, None, "10.0.0.1", 50.0, {}
    )
    apply_lease(rec, "bound", info)
    assert (rec.ip, rec.state, rec.renewals) == ("10.0.0.5", "bound", 0)
    moved = LeaseInfo("10.0.0.9", 24, "10.0.0.1", [], "", 120, None, None, "10.0.0.1", 110.0, {})
    apply_lease(rec, "renewed", moved)
    assert (rec.ip, rec.renewals, rec.obtained) == ("10.0.0.9", 1, 110.0)
    apply_lease(rec, "unbound", None)
    assert rec.state == "unbound"


def test_build_spec_validation() -> None:
    from devbox.services.nic import build_spec

    c = cfg(DEVBOX_LAB_UPLINK="up0")
    spec = build_spec(c, "box")
    assert (spec.parent, spec.ifname, spec.mode, spec.mac) == (
        "up0",
        "lan0",
        "dhcp",
        macs.derive_mac("box"),
    )
    static = build_spec(
        c, "box", ip="10.0.0.5/24", gateway="10.0.0.1", parent="eth9", ifname="net1", mtu=1400
    )
    assert (static.mode, static.ip, static.prefixlen, static.parent) == (
        "static",
        "10.0.0.5",
        24,
        "eth9",
    )
    for kwargs, match in (
        ({"vlan": 0}, "out of range"),
        ({"vlan": 4095}, "out of range"),
        ({"mac": "01:00:5e:00:00:01"}, "multicast"),
        ({"ip": "10.0.0.5/24", "dhcp": True}, "exclude"),
        ({"gateway": "10.0.0.1"}, "needs --ip"),
        ({"mtu": 10}, "out of range"),
        ({"ifname": "x" * 16}, "not a valid interface"),
    ):
        with pytest.raises(UserError, match=match):
            build_spec(c, "box", **kwargs)  # type: ignore[arg-type]


def test_resolv_conf_text() -> None:
    from devbox.adapters.net.dhcp import resolv_conf_text

    assert resolv_conf_text(["10.0.0.1"], "lab").splitlines()[1:] == [
        "search lab",
        "nameserver 10.0.0.1",
    ]


def test_labels() -> None:
    from devbox.model import labels

    lb = labels.net_labels(parent="eth1", vlan=42, mac="02:00:00:00:00:01")
    assert lb == {
        labels.NET: "dhcp",
        labels.NET_PARENT: "eth1",
        labels.NET_VLAN: "42",
        labels.NET_MAC: "02:00:00:00:00:01",
    }
    assert labels.is_networked(lb) and not labels.is_networked({}) and not labels.is_networked(None)
    # no devbox.root label: the default root's, never another root's
    assert labels.is_networked(lb, "/opt/containers")
    assert not labels.is_networked(lb, "/srv/other-root")
    assert labels.is_networked({**lb, labels.ROOT: "/srv/other-root"}, "/srv/other-root")


def test_default_root_label_matches_the_setting() -> None:
    from devbox import config
    from devbox.model import labels

    assert str(config.load(environ={}, files=())["root"]) == labels.DEFAULT_ROOT
