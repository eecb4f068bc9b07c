"""The NIC service's pure parts: folding a DHCP lease into the record, checking an attach
request."""

from __future__ import annotations

import pytest

from devbox import config
from devbox.errors import UserError
from devbox.model import macs
from tests.unit.records import nic_record


def cfg(**env: str) -> config.Config:
    base = {"DEVBOX_ROOT": "/tmp/dbx-unit"}
    base.update(env)
    return config.load(environ=base, files=())


def test_apply_lease_folds_renewal_with_new_address() -> None:
    from devbox.adapters.net.dhcp import LeaseInfo
    from devbox.services.nic import apply_lease

    rec = nic_record("x")
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


def test_a_renewal_never_writes_back_a_record_a_detach_took(tmp_path: object) -> None:
    """The daemon's session keeps its record current, but only while the record is there and
    not DETACHING: a session started from a pass's stale copy once brought a detached
    container's record (and its lease) back."""
    from pathlib import Path

    from devbox.adapters.net.dhcp import LeaseInfo
    from devbox.model.leases import NicState
    from devbox.services.nic import persist_on_lease
    from devbox.state.lease_store import LeaseStore

    st = LeaseStore(Path(str(tmp_path)) / "leases")
    rec = nic_record("x")
    st.save(rec)
    on_lease = persist_on_lease(st, rec)
    info = LeaseInfo("10.0.0.7", 24, "10.0.0.1", [], "", 120, None, None, "10.0.0.1", 60.0, {})
    on_lease("renewed", info)  # type: ignore[operator]
    saved = st.load_key(rec.key)
    assert saved is not None and saved.ip == "10.0.0.7"
    detaching = st.load_key(rec.key)
    assert detaching is not None
    detaching.move(NicState.DETACHING)
    st.save(detaching)
    on_lease("renewed", info)  # type: ignore[operator]
    again = st.load_key(rec.key)
    assert again is not None and again.state == NicState.DETACHING
    st.delete(rec.key)
    on_lease("renewed", info)  # type: ignore[operator]
    assert st.load_key(rec.key) is None
