"""The daemon's answer to a detach's request (:meth:`Reconciler.release_requested`), on a real
lease store: it lets go of just the leases asked for, reading only their records."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from devbox import config
from devbox.adapters.docker.containers import ContainerState
from devbox.model.leases import NicRecord, NicState
from devbox.oplog import OpLog
from devbox.paths import Layout
from devbox.services.daemon_reconcile import Reconciler, _Held
from devbox.state import daemon_requests
from devbox.state.daemon_requests import RELEASE
from devbox.state.lease_store import LeaseStore


def _record(name: str, state: NicState) -> NicRecord:
    return NicRecord(
        container=name,
        container_id=f"{name}-id",
        ifname="lan0",
        parent="lab0",
        mac="02:00:00:00:00:01",
        mode="dhcp",
        hostname=name,
        client_id=name,
        ip="10.0.0.5",
        prefixlen=24,
        state=state,
    )


def _reconciler(root: Path) -> tuple[Reconciler, LeaseStore]:
    layout = Layout(root)
    st = LeaseStore(layout.leases, layout.locks)
    cfg = config.load(environ={"DEVBOX_ROOT": str(root)}, files=())
    return Reconciler(cfg, st, OpLog(root / "daemon.log")), st


def _hold(rec: Reconciler, st: LeaseStore, key: str) -> None:
    fd = st.try_owner(key)
    assert fd is not None
    rec.held[key] = _Held(None, fd, 1, key.rsplit(".", 1)[0])


def test_it_lets_go_of_the_detaching_lease_asked_for_and_reads_no_other(tmp_path: Path) -> None:
    rec, st = _reconciler(tmp_path)
    layout = Layout(tmp_path)
    for name, state in (("a", NicState.DETACHING), ("b", NicState.BOUND), ("c", NicState.BOUND)):
        st.save(_record(name, state))
        _hold(rec, st, f"{name}.lan0")
    st.path("z.lan0").write_text('{"cut')  # unreadable: a read of it would be named below
    daemon_requests.ask(layout, RELEASE, "a.lan0")  # a detach's
    daemon_requests.ask(layout, RELEASE, "b.lan0")  # stale: b was attached again since (BOUND)
    fresh = LeaseStore(layout.leases, layout.locks)
    rec.st = fresh  # a store that read nothing yet

    rec.release_requested()

    assert sorted(rec.held) == ["b.lan0", "c.lan0"]
    assert st.try_owner("b.lan0") is None  # still the daemon's
    fd = st.try_owner("a.lan0")
    assert fd is not None  # the detach can own it now
    assert fresh.unreadable == {}  # z.lan0 was never read (a reconcile reads every record)
    assert daemon_requests.take(layout, RELEASE) == []
    for key in list(rec.held):
        rec.let_go(key)


def test_a_lease_whose_record_is_gone_is_let_go_an_unreadable_one_kept(tmp_path: Path) -> None:
    rec, st = _reconciler(tmp_path)
    layout = Layout(tmp_path)
    for name in ("gone", "bad"):
        st.save(_record(name, NicState.BOUND))
        _hold(rec, st, f"{name}.lan0")
    st.delete("gone.lan0")
    st.path("bad.lan0").write_text('{"cut')
    rec.st = LeaseStore(layout.leases, layout.locks)  # never saw "bad": cannot read it
    daemon_requests.ask(layout, RELEASE, "gone.lan0")
    daemon_requests.ask(layout, RELEASE, "bad.lan0")
    daemon_requests.ask(layout, RELEASE, "never-held.lan0")

    rec.release_requested()

    assert list(rec.held) == ["bad.lan0"]  # left alone, as a reconcile leaves it
    rec.let_go("bad.lan0")


def _facts(name: str) -> ContainerState:
    return ContainerState(
        name=name,
        id=f"{name}-id",
        status="running",
        running=True,
        pid=1,
        labels={},
        image="",
        created="",
        started_at="",
        finished_at="",
    )


def test_a_lease_detached_since_the_pass_read_it_is_not_held_again(tmp_path: Path) -> None:
    """A pass reads every record, then adopts one by one: a detach that ran to its end in
    between (the daemon did not hold the lease yet) deleted the record; adopting from the
    pass's copy held a lease nobody wants and wrote the record back (a second detach then
    found it). DETACHING, the same: the detach is under way."""
    rec, st = _reconciler(tmp_path)
    for name, state in (("gone", NicState.STATIC), ("going", NicState.DETACHING)):
        st.save(dataclasses.replace(_record(name, state), mode="static"))
    stale = {r.key: dataclasses.replace(r, state=NicState.STATIC) for r in st.all()}
    st.delete("gone.lan0")

    for copy in stale.values():
        rec._adopt(copy, _facts(copy.container))

    assert rec.held == {}
    assert not st.path("gone.lan0").exists()
    for key in stale:
        fd = st.try_owner(key)  # free: nothing of the daemon's holds it
        assert fd is not None


def test_one_containers_pass_lets_go_of_its_leases_only_not_a_dotted_neighbours(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Docker event for ``web`` runs a pass for ``web`` alone. The lease of a container
    named ``web.1`` (a hand-labelled one may have dots) has a key that starts with "web.":
    picked by that prefix, it was let go as if it were web's, until the next full pass."""
    from devbox.adapters.docker import net

    rec, st = _reconciler(tmp_path)
    st.save(dataclasses.replace(_record("web.1", NicState.BOUND), mode="static"))
    _hold(rec, st, "web.1.lan0")
    _hold(rec, st, "web.lan0")  # web's record is gone: its lease goes
    monkeypatch.setattr(net, "inspect", lambda name: None)  # web itself is gone too
    monkeypatch.setattr(rec, "_resume_paused", lambda only: None)

    rec.reconcile(only="web")

    assert list(rec.held) == ["web.1.lan0"]
    rec.let_go("web.1.lan0")
