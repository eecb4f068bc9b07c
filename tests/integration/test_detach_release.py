"""A detach asks the daemon to let go of just its lease (``devbox.state.daemon_requests`` and
SIGUSR1), against the real daemon, lab LAN and busybox containers: the daemon no longer
reconciles every record with Docker for each detach (what a SIGHUP does). A burst of requests
(SIGUSR1) is test_net's burst test."""

from __future__ import annotations

import os
import secrets
import signal
from typing import Any

import pytest

from tests import inotify, waits
from tests.conftest import RUN_ID
from tests.fixtures.lab import LabEnv, stop_daemon

pytestmark = pytest.mark.integration


def daemon_log(lab: LabEnv) -> str:
    path = lab.root / "logs" / "daemon.log"
    return path.read_text(errors="replace") if path.exists() else ""


def wait_adopted(lab: LabEnv, name: str, ip: str | None, seconds: float, what: str) -> None:
    """Until the daemon's log says it adopted ``name``'s lease of ``ip``."""
    waits.wait_for(
        lambda: f"{name}.lan0: adopted lease {ip}" in daemon_log(lab), seconds, what, interval=0.05
    )


def test_a_detach_reads_no_other_record(lab: LabEnv, lab_container: Any) -> None:
    """Another container's record is not even opened by the daemon for a detach (it was: the
    detach's SIGHUP made a reconcile of every record, and every container's inspect)."""
    from devbox.services import daemon_control, network
    from devbox.state import daemon_pid

    cfg = lab.cfg()
    assert daemon_pid.running_pid(cfg) is None
    ctr = lab_container()
    # attached with no daemon: the daemon's start-up pass adopts the lease, and nothing
    # else is queued (no daemon to ask: the attach made no request); the next timed pass is
    # 15 s after that one
    att = network.attach(cfg, ctr.name)
    daemon = daemon_control.ensure_running(cfg)
    try:
        wait_adopted(lab, ctr.name, att.ip, 20, "the daemon to adopt the lease")
        _detach_reading_no_other(lab, ctr, daemon)
    finally:
        stop_daemon(lab)


def _detach_reading_no_other(lab: LabEnv, ctr: Any, daemon: int) -> None:
    from devbox.services import network, nic

    cfg = lab.cfg()
    # another container's record, one no pass can read (each leaves it alone, untouched)
    other = nic.store(cfg).path(f"dbxt{RUN_ID}d{secrets.token_hex(2)}.lan0")
    other.write_text('{"cut short')
    opens = inotify.Watch(other, inotify.IN_OPEN)
    try:
        detached = network.detach(cfg, ctr.name)  # waits for the daemon to let go

        assert [a.state for a in detached] == ["released"]
        assert nic.store(cfg).for_container(ctr.name) == []
        assert not opens.events(), "the daemon read every record for one detach"
        # and a whole reconcile does read it (what the assertion above would have seen)
        os.kill(daemon, signal.SIGHUP)
        waits.wait_for(opens.events, 20, "a reconcile to read it", interval=0.05)
    finally:
        opens.close()
        other.unlink(missing_ok=True)


def test_an_attach_asks_the_daemon_to_adopt_its_lease_and_reads_no_other_record(
    lab: LabEnv, lab_container: Any
) -> None:
    """With the daemon running, an attach asks it to take over just that container's lease
    (``daemon_requests.ADOPT``, SIGUSR1): it adopts it at once, and never opens another
    container's record (the attach's SIGHUP made a whole reconcile: every record, every
    container's inspect, per attach -- 50 clones cost the square)."""
    from devbox.services import daemon_control, network, nic

    cfg = lab.cfg()
    first, ctr = lab_container(), lab_container()
    # the daemon's start-up pass (a whole one) adopts the first lease: then it is done
    first_att = network.attach(cfg, first.name)
    daemon_control.ensure_running(cfg)
    other = nic.store(cfg).path(f"dbxt{RUN_ID}d{secrets.token_hex(2)}.lan0")
    try:
        wait_adopted(lab, first.name, first_att.ip, 20, "the daemon's start-up pass")
        other.write_text('{"cut short')
        opens = inotify.Watch(other, inotify.IN_OPEN)
        try:
            att = network.attach(cfg, ctr.name)
            assert not opens.events(), "the attach itself read another container's record"
            # a timed whole pass comes only after 15 s
            wait_adopted(lab, ctr.name, att.ip, 10, "the daemon to adopt the lease")
            assert not opens.events(), "the daemon read every record for one attach"
        finally:
            opens.close()
        for name in (ctr.name, first.name):
            network.detach(cfg, name)
    finally:
        other.unlink(missing_ok=True)
        stop_daemon(lab)
