"""kill -9 of the daemon during a lease renewal (2 minute leases, T1 at 20 s): after it
restarts every container keeps its lease and its address, and the lease is renewed."""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.faults import table
from tests.faults.conftest import FaultEnv

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.faults]


def _ip_in(name: str) -> str | None:
    from devbox.adapters.docker import containers as dc
    from devbox.adapters.net import netlink, netns

    st = dc.inspect(name)
    if st is None or not st.running:
        return None
    addrs = netlink.addresses("lan0", netns.pid_path(st.pid))
    return addrs[0][0] if addrs else None


def test_kill_daemon_during_renewal(faults: FaultEnv) -> None:
    from devbox.services import daemon_control, nic
    from devbox.state import daemon_pid

    case = "kill -9 daemon mid-renewal"
    cfg = faults.cfg()
    snap = faults.snap()
    extra = faults.name("dk")
    faults.make(extra, "--no-checkout")
    names = [faults.bystander, extra]
    pid = daemon_control.ensure_running(cfg)
    st = nic.store(cfg)
    before = {n: st.for_container(n)[0] for n in names}
    ips = {n: _ip_in(n) for n in names}
    assert all(ips.values()), ips
    # T1 of the lease renewed soonest: obtained + renewal_time (20 s: lab.renewal_time)
    rec = min(before.values(), key=lambda r: (r.obtained or 0) + (r.renewal_time or 60))
    t1 = (rec.obtained or time.time()) + (rec.renewal_time or 60)
    deadline = time.monotonic() + 130
    while time.time() < t1 and time.monotonic() < deadline:
        time.sleep(0.05)
    # the renewal is under way: wait for its REQUEST to be answered or 0.3 s, then kill
    sent = time.monotonic()
    while time.monotonic() - sent < 0.3:
        now = st.load_key(rec.key)
        if now is not None and now.renewals > rec.renewals:
            break
        time.sleep(0.005)
    os.kill(pid, signal.SIGKILL)
    gone = time.monotonic() + 10
    while daemon_pid.running_pid(cfg) is not None and time.monotonic() < gone:
        time.sleep(0.05)
    assert daemon_pid.running_pid(cfg) is None
    assert {n: _ip_in(n) for n in names} == ips  # the addresses stay while it is away
    daemon_control.ensure_running(cfg)
    # the new daemon adopts every lease (a REQUEST for the persisted one): same address,
    # later expiry
    renewed: dict[str, bool] = {}
    until = time.monotonic() + 40
    while time.monotonic() < until:
        renewed = {}
        for n in names:
            r = st.for_container(n)[0]
            renewed[n] = r.ip == before[n].ip and (r.obtained or 0) > (before[n].obtained or 0)
        if all(renewed.values()):
            break
        time.sleep(0.2)
    after = {n: _ip_in(n) for n in names}
    removed = faults.remove(extra)
    report = faults.check(snap, gone={extra})
    ok = all(renewed.values()) and after == ips and removed.returncode == 0 and report.clean
    table.record(
        case,
        ok,
        report,
        "" if ok else f"renewed {renewed}; ips {ips} -> {after}; {report.describe()}",
    )
    assert after == ips
    assert all(renewed.values()), renewed
    assert report.clean, report.describe()
