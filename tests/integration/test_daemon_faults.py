"""Faults the daemon repairs (issue 12), against real parts: the lab LAN, the daemon, dev
containers, kill -9.

- a LAN parent that goes away and comes back (``lab down`` + ``lab up``, as a NIC re-created
  on a real host): the kernel deletes every macvlan on it, also those inside containers; the
  daemon sees the parent come back (netlink) and gives each running container its interface
  back, same MAC and same address, without a restart;
- a clone killed (-9) while its source is paused: the next devbox command on the source, or
  the daemon, resumes it; a container a person paused is left alone;
- a lease record that turned unreadable: the daemon leaves that container alone (logged once,
  naming the file), never plumbs it again from its labels nor drops it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devbox.errors import DevboxError
from devbox.model import labels as L
from devbox.paths import Layout
from tests import waits
from tests.conftest import RUN_ID
from tests.fixtures.devcontainers import remove_clones_and_source
from tests.fixtures.engine import TEST_LABEL
from tests.fixtures.lab import LabEnv, stop_daemon

pytestmark = pytest.mark.integration

MB = 1024 * 1024


def wait_for(what: str, fn: Any, timeout: float = 20.0) -> Any:
    return waits.wait_for(fn, timeout, what, interval=0.1)


def lan_of(ctr: Any, ifname: str = "lan0") -> tuple[str, str, int] | None:
    """(ip, mac, ifindex) of ``ifname`` in the container's netns, or None."""
    from devbox.adapters.net import netlink, netns

    ctr.reload()
    if not ctr.attrs["State"]["Running"]:
        return None
    ns = netns.pid_path(ctr.attrs["State"]["Pid"])
    link = netlink.get_link(ifname, ns)
    if link is None:
        return None
    addrs = netlink.addresses(ifname, ns)
    return (addrs[0][0] if addrs else "", link.mac, link.index)


def daemon_log(lab: LabEnv) -> str:
    path = lab.root / "logs" / "daemon.log"
    return path.read_text(errors="replace") if path.exists() else ""


def lease_ips(lab: LabEnv) -> dict[str, str]:
    from devbox.model.lab_plan import parse_leases

    path = lab.root / "lab" / "dnsmasq.leases"
    return {le.hostname: le.ip for le in parse_leases(path.read_text())} if path.exists() else {}


# --- 1. the LAN parent goes away and comes back ----------------------------------------------


def test_lan_comes_back_after_the_parent_is_recreated(
    lab: LabEnv, lab_container: Any, daemon: int
) -> None:
    """``lab down`` + ``lab up``: every running container gets lan0 back with the same MAC
    and address (the held lease re-bound), no restart. The bound below is shorter than the
    daemon's periodic sweep (``RECONCILE_EVERY``): the sweep must not be what brings it back,
    the parent coming back must."""
    from devbox.services import daemon as svc
    from devbox.services import lab as labsvc
    from devbox.services import network, nic

    cfg = lab.cfg()
    ctr = lab_container()
    att = network.attach(cfg, ctr.name)
    assert att.ip
    before = lan_of(ctr)
    assert before is not None and before[:2] == (att.ip, att.mac)
    wait_for(
        "the daemon adopts the lease",
        lambda: f"{ctr.name}.lan0: adopted lease {att.ip}" in daemon_log(lab),
    )
    started_at = ctr.attrs["State"]["StartedAt"]
    try:
        labsvc.down(cfg)
        # the kernel took the container's macvlan with its parent
        wait_for("lan0 gone with its parent", lambda: lan_of(ctr) is None, timeout=10)
    finally:
        labsvc.up(cfg)
    bound = svc.RECONCILE_EVERY * 0.8
    after = wait_for(
        "lan0 back with the same address and MAC",
        lambda: (lambda got: got if got and got[:2] == before[:2] else None)(lan_of(ctr)),
        timeout=bound,
    )
    assert after[2] != before[2]  # a new interface, in the same (never restarted) container
    ctr.reload()
    assert ctr.attrs["State"]["StartedAt"] == started_at
    rec = nic.store(cfg).load(ctr.name, "lan0")
    assert rec is not None and rec.ip == att.ip and rec.mac == att.mac
    assert rec.state == "bound" and rec.pid == ctr.attrs["State"]["Pid"]
    assert lease_ips(lab).get(ctr.name) == att.ip  # dnsmasq has the lease, same address
    network.detach(cfg, ctr.name)


def test_link_events_see_a_link_appear_go_up_and_go(engine: Any) -> None:
    """The adapter's reader, in a scratch namespace of this run (no real interface)."""
    import queue
    import secrets
    import threading

    from devbox.adapters.net import link_watch, netns

    ns = f"dbxt{RUN_ID}le{secrets.token_hex(2)}"
    netns.create(ns)
    seen: queue.SimpleQueue[link_watch.LinkEvent] = queue.SimpleQueue()
    listening = threading.Event()
    stop = threading.Event()

    def reader() -> None:
        netns.setns_current_thread(netns.named_path(ns))  # this thread only lives there
        events = link_watch.link_events(poll=0.2)
        try:
            for ev in events:
                listening.set()
                if stop.is_set():
                    return
                if ev is not None:
                    seen.put(ev)
        finally:
            events.close()

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        assert listening.wait(10)

        def change() -> None:
            from pyroute2 import IPRoute

            with IPRoute() as ipr:
                ipr.link("add", ifname="dbxva", kind="veth", peer={"ifname": "dbxvb"})
                idx = ipr.link_lookup(ifname="dbxva")[0]
                ipr.link("set", index=idx, state="up")
                ipr.link("del", index=idx)

        netns.run_in(netns.named_path(ns), change)
        got: list[link_watch.LinkEvent] = []
        wait_for(
            "the delete event",
            lambda: (
                got.extend(_drain(seen)) or any(e.event == "del" and e.name == "dbxva" for e in got)
            ),
            timeout=10,
        )
        mine = [e for e in got if e.name == "dbxva"]
        assert mine[0].event == "new" and any(e.event == "new" and e.up for e in mine)
        assert mine[-1].event == "del"
    finally:
        stop.set()
        thread.join(timeout=5)
        netns.remove(ns)


def _drain(q: Any) -> list[Any]:
    out = []
    while not q.empty():
        out.append(q.get())
    return out


# --- 2b. passes racing detaches -----------------------------------------------------------


def test_attach_detach_cycles_under_a_storm_of_passes_leave_nothing(
    lab: LabEnv, lab_container: Any, daemon: int
) -> None:
    """Attach and detach, over and over, while the daemon is made to reconcile all the time
    (a SIGHUP every few ms: many commands notifying it at once). A pass that read the records
    before a detach must not hold the lease or write its record back after the detach: the
    next attach would wait for the lease's owner lock (and fail), a detached lease would be
    renewed. After the last detach nothing holds the lease and no record comes back."""
    from devbox.services import network, nic

    cfg = lab.cfg()
    ctr = lab_container()
    key = f"{ctr.name}.lan0"
    st = nic.store(cfg)
    stop = threading.Event()

    def storm() -> None:
        for _ in range(60_000):  # bounded: 5 ms apart, stopped when the cycles are done
            if stop.wait(0.005):
                return
            try:
                os.kill(daemon, signal.SIGHUP)
            except ProcessLookupError:
                return

    sender = threading.Thread(target=storm, name="SIGHUP storm", daemon=True)
    sender.start()
    try:
        for _ in range(25):
            network.attach(cfg, ctr.name)
            network.detach(cfg, ctr.name)
    finally:
        stop.set()
        sender.join(10)
    os.kill(daemon, signal.SIGHUP)  # one more pass after the storm: it must find nothing
    for _ in range(30):  # passes queued by the storm go through meanwhile (bounded: 3 s)
        assert st.load_key(key) is None, "a pass wrote the detached lease's record back"
        fd = st.try_owner(key)
        assert fd is not None, "the daemon holds the detached lease again"
        os.close(fd)
        time.sleep(0.1)


# --- 3. an unreadable lease record -------------------------------------------------------------


def test_unreadable_record_is_left_alone(lab: LabEnv, lab_container: Any) -> None:
    """A fresh daemon that never read a record (it is corrupt on disk) must not plumb that
    hand-labelled container again from its labels (a new interface, maybe another address,
    the corrupt record overwritten); it says once which file to fix."""
    from devbox.services import daemon_control, network, nic
    from devbox.state import daemon_pid

    cfg = lab.cfg()
    ctr = lab_container(labels={**L.net_labels(), L.ROOT: str(lab.root)})
    daemon_control.ensure_running(cfg)
    try:
        got = network.wait_attached(cfg, ctr.name, timeout=30)
        before = lan_of(ctr)
        assert before is not None and before[0] == got.ip
        daemon_control.stop(cfg)
        path = nic.store(cfg).path(f"{ctr.name}.lan0")
        good = path.read_bytes()
        broken = good[: len(good) // 2]  # a save cut short
        path.write_bytes(broken)
        daemon_control.ensure_running(cfg)
        pid = daemon_pid.running_pid(cfg)
        assert pid is not None
        for _ in range(3):  # reconciles: the startup one, then three more
            os.kill(pid, signal.SIGHUP)
            time.sleep(0.3)

        def settled() -> bool:
            now = lan_of(ctr)
            return str(path) in daemon_log(lab) or now is None or now[2] != before[2]

        wait_for("the daemon to handle the labelled container", settled, timeout=20)
        time.sleep(1.0)  # give a wrong re-plumb (if any) the time to show
        assert lan_of(ctr) == before, "the daemon plumbed the container again"
        assert path.read_bytes() == broken, "the unreadable record was overwritten"
        skips = [line for line in daemon_log(lab).splitlines() if str(path) in line]
        assert len(skips) == 1, skips
        assert ctr.name in skips[0] and "unreadable" in skips[0]
        # fixed by hand: the daemon takes the lease over again (and says so)
        path.write_bytes(good)
        os.kill(pid, signal.SIGHUP)
        wait_for(
            "adoption once the record is readable",
            lambda: f"{ctr.name}.lan0: adopted lease {got.ip}" in daemon_log(lab),
        )
        assert lan_of(ctr) == before
    finally:
        stop_daemon(lab)
        ctr.remove(force=True)
        try:
            network.detach(cfg, ctr.name, missing_ok=True)
        except DevboxError:
            pass


# --- 2. the clone source is never left paused ---------------------------------------------------


@dataclass
class Source:
    cfg: Any
    env: dict[str, str]
    name: str


def _env(lab: LabEnv) -> dict[str, str]:
    return {
        **lab.full_env(labels=f"{TEST_LABEL}={RUN_ID}"),
        "HOME": str(lab.root / "home"),
        "NO_COLOR": "1",
    }


def cli(src: Source, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devbox", *args],
        env=src.env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def source(lab: LabEnv, dev_image: str) -> Iterator[Source]:
    from devbox import config
    from devbox.model.container_plan import MakeOptions
    from devbox.services import container_make

    env = _env(lab)
    Path(env["HOME"]).mkdir(exist_ok=True)
    cfg = config.load(
        environ={**lab.env, "DEVBOX_LABELS": f"{TEST_LABEL}={RUN_ID}", "HOME": env["HOME"]},
        files=(),
    )
    name = f"dbxt{RUN_ID}ps"
    try:
        container_make.make(
            cfg, MakeOptions(name=name, branch="main", image=dev_image, checkout=False)
        )
        # some /opt to copy, so the source stays paused long enough to be seen paused
        big = Layout(cfg.root).opt_dir(name) / "data" / "blob.bin"
        big.parent.mkdir(parents=True, exist_ok=True)
        big.write_bytes(os.urandom(64 * MB))
        yield Source(cfg, env, name)
    finally:
        remove_clones_and_source(cfg, name, images_label=f"{L.CLONE_OF}={name}")


def is_paused(engine: Any, name: str) -> bool:
    return bool(engine.api.inspect_container(name)["State"]["Paused"])


def kill_clone_while_paused(src: Source, engine: Any) -> None:
    """Run ``clone SRC --count 1`` and kill -9 its job in the service while SRC is paused
    (the freeze): the crash of the process doing the work. (Killing the CLI only cancels
    the job, which rolls back: test_a_killed_client_rolls_the_clone_back.)"""
    from tests.fixtures.service_jobs import job_pids

    proc = subprocess.Popen(
        [sys.executable, "-m", "devbox", "dockeruser", "clone", src.name, "--count", "1"],
        env=src.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 300
        while True:
            if is_paused(engine, src.name):
                jobs = job_pids(src.cfg)
                assert len(jobs) == 1, f"one job should run the clone, not {jobs}"
                os.kill(jobs[0], signal.SIGKILL)
                proc.wait(timeout=60)
                assert proc.returncode == 4, "the CLI says the job ended without a result"
                return
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                raise AssertionError(
                    f"clone ended (exit {proc.returncode}) before its source "
                    f"was seen paused: {err[-1500:]}"
                )
            if time.monotonic() >= deadline:
                raise AssertionError("the clone never paused its source")
            time.sleep(0.01)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        if proc.stderr is not None:
            proc.stderr.close()


def marker(src: Source) -> Path:
    return Layout(src.cfg.root).paused_marker(src.name)


def test_killed_clone_source_is_resumed_by_the_next_command(
    lab: LabEnv, source: Source, engine: Any
) -> None:
    kill_clone_while_paused(source, engine)
    assert is_paused(engine, source.name), "the kill -9 should have left the source paused"
    result = cli(source, "dockeruser", "start-dev-container", source.name)
    assert result.returncode == 0, result.stderr[-2000:]
    assert not is_paused(engine, source.name)
    assert engine.api.inspect_container(source.name)["State"]["Running"]
    assert not marker(source).exists()
    log = Layout(source.cfg.root).container_log(source.name).read_text()
    assert "left paused by a freeze that died" in log


def test_killed_clone_source_is_resumed_by_the_daemon(
    lab: LabEnv, source: Source, engine: Any
) -> None:
    from devbox.services import daemon_control

    kill_clone_while_paused(source, engine)
    assert is_paused(engine, source.name)
    stop_daemon(lab)  # a service that starts finds the marker of the freeze that died
    daemon_control.ensure_running(source.cfg)
    try:
        wait_for(
            "the daemon to resume the source",
            lambda: not is_paused(engine, source.name),
            timeout=30,
        )
        wait_for("the marker to go", lambda: not marker(source).exists(), timeout=10)
        assert f"{source.name} was left paused by a freeze that died" in daemon_log(lab)
    finally:
        stop_daemon(lab)


def test_a_killed_client_rolls_the_clone_back(lab: LabEnv, source: Source, engine: Any) -> None:
    """kill -9 of the CLI mid-freeze: the service cancels the job (the client went away),
    which rolls back: the source runs again, no clone is left, the marker is gone."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "devbox", "dockeruser", "clone", source.name, "--count", "1"],
        env=source.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for("the freeze", lambda: is_paused(engine, source.name), timeout=300)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    wait_for("the rollback to resume the source", lambda: not is_paused(engine, source.name), 60)
    wait_for("the marker to go", lambda: not marker(source).exists(), 30)
    from tests.fixtures.service_jobs import job_pids

    wait_for("the job to end", lambda: not job_pids(source.cfg), 60)
    clones = engine.containers.list(all=True, filters={"label": f"{L.CLONE_OF}={source.name}"})
    assert clones == [], [c.name for c in clones]
    assert engine.api.inspect_container(source.name)["State"]["Running"]


def test_a_container_paused_by_a_person_is_left_alone(
    lab: LabEnv, source: Source, engine: Any
) -> None:
    from devbox.services import daemon_control
    from devbox.state import daemon_pid

    engine.api.pause(source.name)
    try:
        assert not marker(source).exists()
        result = cli(source, "dockeruser", "list-containers", "--json")
        assert result.returncode == 0, result.stderr
        assert is_paused(engine, source.name)
        daemon_control.ensure_running(source.cfg)
        pid = daemon_pid.running_pid(source.cfg)
        assert pid is not None
        os.kill(pid, signal.SIGHUP)
        wait_for("a reconcile", lambda: daemon_log(lab).count("watching Docker events"))
        time.sleep(1.0)
        assert is_paused(engine, source.name)
    finally:
        stop_daemon(lab)
        if is_paused(engine, source.name):
            engine.api.unpause(source.name)


def test_after_a_killed_clone_clone_and_remove_converge(
    lab: LabEnv, source: Source, engine: Any
) -> None:
    """What the killed freeze left (a raw snapshot image, part of an /opt copy) goes: the
    next clone works and removing the clones leaves no snapshot."""
    kill_clone_while_paused(source, engine)
    again = cli(source, "dockeruser", "clone", source.name, "--count", "1", "--json")
    assert again.returncode == 0, again.stderr[-2000:]
    assert not is_paused(engine, source.name)
    removed = cli(source, "dockeruser", "remove-dev-container", "--clones-of", source.name, "--yes")
    assert removed.returncode == 0, removed.stderr[-2000:]
    from devbox.adapters.docker import snapshots

    layout = Layout(source.cfg.root)
    snaps = [p.name for p in layout.snapshots.iterdir()] if layout.snapshots.is_dir() else []
    assert snaps == []
    assert snapshots.images_labelled(f"{L.CLONE_OF}={source.name}") == []
    assert not marker(source).exists()
    st = engine.api.inspect_container(source.name)["State"]
    assert st["Running"] and not st["Paused"]
