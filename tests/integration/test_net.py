"""``devbox common net`` against real parts: the lab's dnsmasq, busybox containers, netlink."""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from devbox.errors import DevboxError
from tests import skips, waits
from tests.conftest import RUN_ID
from tests.fixtures.lab import LabEnv, devbox_cli, run_in_lab

pytestmark = pytest.mark.integration


def host_links() -> set[str]:
    from devbox.adapters.net import netlink

    # only this run's: names with the run id, and anything hanging off one of them (macvlans,
    # devbox's temporary dbx* names included); other runs and dockerd add links meanwhile
    links = netlink.links()
    ours = {li.index for li in links if RUN_ID in li.name}
    return {li.name for li in links if li.index in ours or li.link in ours}


def container_links(ctr: Any) -> set[str]:
    from devbox.adapters.net import netlink, netns

    ctr.reload()
    return {li.name for li in netlink.links(netns.pid_path(ctr.attrs["State"]["Pid"]))}


def lease_ips(lab: LabEnv) -> dict[str, str]:
    """hostname -> ip from dnsmasq's lease file."""
    from devbox.model.lab_plan import parse_leases

    text = (lab.root / "lab" / "dnsmasq.leases").read_text()
    return {le.hostname: le.ip for le in parse_leases(text)}


def records(lab: LabEnv) -> list[str]:
    return (
        sorted(p.name for p in (lab.root / "leases").glob("*"))
        if (lab.root / "leases").exists()
        else []
    )


def lab_ping(lab: LabEnv, ip: str) -> bool:
    return run_in_lab(lab, ["busybox", "ping", "-c", "1", "-W", "2", ip]).returncode == 0


def in_range(lab: LabEnv, ip: str) -> bool:
    net = ipaddress.IPv4Network(lab.subnet)
    addr = ipaddress.IPv4Address(ip)
    return addr in net and 100 <= int(addr) - int(net.network_address) <= 250


def wait_for(what: str, fn: Any, timeout: float = 20.0) -> Any:
    return waits.wait_for(fn, timeout, what, interval=0.1)


def ip_in(ctr: Any, ifname: str = "lan0") -> str | None:
    from devbox.adapters.net import netlink, netns

    ctr.reload()
    if not ctr.attrs["State"]["Running"]:
        return None
    addrs = netlink.addresses(ifname, netns.pid_path(ctr.attrs["State"]["Pid"]))
    return addrs[0][0] if addrs else None


# --- attach with DHCP ----------------------------------------------------------------------


def test_attach_dhcp_lease_ping_and_peers(lab: LabEnv, lab_container: Any) -> None:
    from devbox.model import macs
    from devbox.services import host_reach, network

    cfg = lab.cfg()
    a, b = lab_container(), lab_container()
    result = devbox_cli(lab.full_env(), "common", "net", "attach", a.name, "--json")
    assert result.returncode == 0, result.stderr
    att = json.loads(result.stdout)
    assert att["mac"] == macs.derive_mac(a.name) and att["state"] == "bound"
    assert in_range(lab, att["ip"]) and att["gateway"] == lab.prefix + "1"
    assert lease_ips(lab)[a.name] == att["ip"]  # in dnsmasq's lease file, with the hostname
    assert ip_in(a) == att["ip"]
    assert a.exec_run(["cat", "/etc/resolv.conf"]).output.decode().count(lab.prefix + "1") == 1
    att_b = network.attach(cfg, b.name)
    assert att_b.ip != att["ip"] and in_range(lab, att_b.ip or "")
    # a host in the lab namespace pings it; two containers ping each other; the host too
    assert lab_ping(lab, att["ip"])
    assert a.exec_run(["ping", "-c", "1", "-W", "2", att_b.ip]).exit_code == 0
    assert b.exec_run(["ping", "-c", "1", "-W", "2", att["ip"]]).exit_code == 0
    assert host_reach.reachable_directly(att["ip"])  # through the lab's shim
    # idempotent: attaching again returns the same interface
    assert network.attach(cfg, a.name).ip == att["ip"]
    shown = json.loads(devbox_cli(lab.full_env(), "common", "net", "show", "--json").stdout)
    mine = {s["container"]: s for s in shown}
    assert mine[a.name]["ip"] == att["ip"] and mine[a.name]["state"] == "bound"
    assert mine[a.name]["lease_expiry"] > time.time()
    network.detach(cfg, a.name)
    network.detach(cfg, b.name)


def test_host_reaches_container_through_shim_and_netns(lab: LabEnv, lab_container: Any) -> None:
    from devbox.adapters.net import netns
    from devbox.services import host_reach, network

    cfg = lab.cfg()
    ctr = lab_container()
    ctr.exec_run(["sh", "-c", "echo hello-from-lan | nc -l -p 2222"], detach=True)
    att = network.attach(cfg, ctr.name)
    assert att.ip
    ctr.reload()
    pid = ctr.attrs["State"]["Pid"]
    # the fallback for a real parent without a shim: a socket made inside the netns
    sock = wait_for(
        "nc listening",
        lambda: _try(lambda: netns.connect_in_netns(pid, att.ip or "", 2222, 2.0)),
        timeout=10,
    )
    with sock:
        assert sock.recv(64).startswith(b"hello-from-lan")
    ctr.exec_run(["sh", "-c", "echo via-shim | nc -l -p 2223"], detach=True)
    sock = wait_for(
        "nc listening",
        lambda: _try(lambda: host_reach.connect(cfg, ctr.name, 2223, 2.0)),
        timeout=10,
    )
    with sock:
        assert sock.recv(64).startswith(b"via-shim")
    network.detach(cfg, ctr.name)


def _try(fn: Any) -> Any:
    try:
        return fn()
    except (OSError, DevboxError):
        return None


def test_static_address_with_arp_probe(lab: LabEnv, lab_container: Any) -> None:
    from devbox.services import network

    cfg = lab.cfg()
    a, b = lab_container(), lab_container()
    ip = lab.prefix + "60"
    att = network.attach(cfg, a.name, ip=f"{ip}/24", gateway=lab.prefix + "1")
    assert (att.ip, att.mode, att.state) == (ip, "static", "static")
    assert lab_ping(lab, ip)
    before_host = host_links()
    with pytest.raises(DevboxError, match=f"address {ip} is already in use"):
        network.attach(cfg, b.name, ip=f"{ip}/24")
    assert "lan0" not in container_links(b)
    assert host_links() == before_host
    assert not any(r.startswith(b.name) for r in records(lab))
    # the lab's own address is taken too (by dnsmasq's namespace)
    with pytest.raises(DevboxError, match="already in use"):
        network.attach(cfg, b.name, ip=f"{lab.prefix}1/24")
    network.detach(cfg, a.name)


# --- detach --------------------------------------------------------------------------------


def test_detach_releases_and_removes(lab: LabEnv, lab_container: Any) -> None:
    from devbox.services import network

    cfg = lab.cfg()
    ctr = lab_container()
    att = network.attach(cfg, ctr.name)
    assert lease_ips(lab).get(ctr.name) == att.ip
    result = devbox_cli(lab.full_env(), "common", "net", "detach", ctr.name)
    assert result.returncode == 0, result.stderr
    assert ctr.name not in lease_ips(lab)  # DHCPRELEASE reached the server
    assert "lan0" not in container_links(ctr)
    assert not any(r.startswith(ctr.name) for r in records(lab))
    again = devbox_cli(lab.full_env(), "common", "net", "detach", ctr.name)
    assert again.returncode == 2 and "no devbox LAN interface" in again.stderr


def test_50_attach_detach_cycles_leave_nothing(lab: LabEnv, lab_container: Any) -> None:
    from devbox.services import network

    cfg = lab.cfg()
    ctr = lab_container()
    before_host = host_links()
    network.attach(cfg, ctr.name)  # the first starts the process's fixed threads (the DHCP
    network.detach(cfg, ctr.name)  # loop, its worker lanes, the netns window): counted before
    before_threads = _threads()
    seen = set()
    for _ in range(50):
        att = network.attach(cfg, ctr.name)
        seen.add(att.ip)
        network.detach(cfg, ctr.name)
    assert len(seen) == 1  # the same name always gets the same address back
    assert host_links() == before_host
    assert container_links(ctr) == {"lo"}
    assert not any(r.startswith(ctr.name) for r in records(lab))
    assert ctr.name not in lease_ips(lab)
    assert _threads() <= before_threads + 1  # no DHCP client thread left running


def _threads() -> int:
    import threading

    return threading.active_count()


# --- errors: one line, non-zero, nothing left behind ---------------------------------------


def _assert_clean_failure(
    lab: LabEnv, ctr: Any, args: list[str], code: int, message: str, **settings: Any
) -> subprocess.CompletedProcess[str]:
    before = host_links()
    result = devbox_cli(lab.full_env(**settings), "common", "net", "attach", ctr.name, *args)
    assert result.returncode == code, result.stderr
    err = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and message in err[0], result.stderr
    assert host_links() == before
    if ctr.status == "running" or ctr.attrs["State"]["Running"]:
        ctr.reload()
        if ctr.attrs["State"]["Running"]:
            assert "lan0" not in container_links(ctr)
    assert not any(r.startswith(ctr.name) for r in records(lab))
    return result


def test_attach_errors(lab: LabEnv, lab_container: Any, engine: Any, busybox_image: str) -> None:
    ctr = lab_container()
    _assert_clean_failure(
        lab, ctr, ["--parent", "dbxnosuch0"], 3, "parent interface dbxnosuch0 does not exist"
    )
    _assert_clean_failure(lab, ctr, ["--mac", "01:00:5e:00:00:01"], 2, "multicast")
    _assert_clean_failure(lab, ctr, ["--mac", "nonsense"], 2, "is not a MAC address")
    _assert_clean_failure(lab, ctr, ["--vlan", "4095"], 2, "out of range")
    _assert_clean_failure(lab, ctr, ["--vlan", "0"], 2, "out of range")
    _assert_clean_failure(lab, ctr, ["--ip", "10.1.1.1/24", "--dhcp"], 2, "exclude")
    stopped = lab_container()
    stopped.stop(timeout=1)
    stopped.reload()
    _assert_clean_failure(lab, stopped, [], 2, "is not running")
    missing = devbox_cli(lab.full_env(), "common", "net", "attach", f"dbxt{RUN_ID}nosuch")
    assert missing.returncode == 2 and "no container named" in missing.stderr
    shown = devbox_cli(lab.full_env(), "common", "net", "show", f"dbxt{RUN_ID}nosuch")
    assert shown.returncode == 2 and "no container named" in shown.stderr


def test_attach_vlan_fails_clearly_without_8021q(lab: LabEnv, lab_container: Any) -> None:
    from devbox.adapters.host import kernel

    skips.need_no_vlan_support(kernel.kernel_has("VLAN_8021Q"))  # allow-listed
    ctr = lab_container()
    _assert_clean_failure(lab, ctr, ["--vlan", "42"], 3, "no 802.1Q VLAN support")


def test_attach_vlan_gets_vlan_range(lab: LabEnv, lab_container: Any) -> None:
    from devbox.adapters.host import kernel
    from devbox.services import lab as labsvc
    from devbox.services import network

    skips.need_vlan_support(kernel.kernel_has("VLAN_8021Q"))  # allow-listed
    cfg = lab.cfg()
    labsvc.up(cfg, vlans=(42,))
    ctr = lab_container()
    att = network.attach(cfg, ctr.name, vlan=42)
    seg = next(s for s in labsvc.plan(cfg, (42,)).vlans if s.vid == 42)
    assert ipaddress.IPv4Address(att.ip) in ipaddress.IPv4Network(seg.subnet)
    network.detach(cfg, ctr.name)


def test_parent_down_fails_cleanly(lab: LabEnv, lab_container: Any) -> None:
    from devbox.adapters.net import netlink, netns

    ctr = lab_container()
    name = f"{lab.uplink[:10]}pd"
    peer_ns = f"{lab.name}pd"
    netns.create(peer_ns)
    try:
        netlink.create_veth(name, "p0", peer_ns)
        from pyroute2 import IPRoute

        with IPRoute() as ipr:
            ipr.link("set", index=ipr.link_lookup(ifname=name)[0], state="down")
        _assert_clean_failure(lab, ctr, ["--parent", name], 3, f"parent interface {name} is down")
    finally:
        netlink.delete_link(name)
        netns.remove(peer_ns)


def test_no_dhcp_answer_times_out_cleanly(lab: LabEnv, lab_container: Any) -> None:
    """A parent whose LAN has no DHCP server: fails after dhcp_timeout, leaves nothing."""
    from devbox.adapters.net import netlink, netns

    ctr = lab_container()
    name = f"{lab.uplink[:10]}nd"
    peer_ns = f"{lab.name}nd"
    netns.create(peer_ns)
    try:
        netlink.create_veth(name, "p0", peer_ns)
        # the setting bounds the wait (the message says which); no clock is asserted
        result = _assert_clean_failure(
            lab, ctr, ["--parent", name], 4, "no DHCP answer", dhcp_timeout=2
        )
        assert "within 2s" in result.stderr, result.stderr
    finally:
        netlink.delete_link(name)
        netns.remove(peer_ns)


def test_stale_interface_in_container_is_replaced(lab: LabEnv, lab_container: Any) -> None:
    """A leftover macvlan named like ours in the container (a crashed attach) is cleaned up."""
    from devbox.adapters.net import netlink
    from devbox.services import network

    cfg = lab.cfg()
    ctr = lab_container()
    ctr.reload()
    netlink.create_macvlan(lab.uplink, "dbxstale0", mac="02:00:00:00:5a:1e")
    netlink.move_to_pid("dbxstale0", ctr.attrs["State"]["Pid"])
    from devbox.adapters.net import netns

    netlink.rename_up("dbxstale0", "lan0", netns.pid_path(ctr.attrs["State"]["Pid"]))
    att = network.attach(cfg, ctr.name)
    assert att.ip and ip_in(ctr) == att.ip
    network.detach(cfg, ctr.name)


# --- the daemon: same IP after every kind of restart; renewals ------------------------------


def test_same_ip_after_restarts_with_daemon(lab: LabEnv, lab_container: Any, daemon: int) -> None:
    from devbox.services import daemon_control, network

    cfg = lab.cfg()
    ctr = lab_container()
    att = network.attach(cfg, ctr.name)
    ip = att.ip
    assert ip and lease_ips(lab)[ctr.name] == ip

    ctr.restart(timeout=1)
    assert wait_for("re-plumb after docker restart", lambda: ip_in(ctr) == ip)
    assert network.wait_attached(cfg, ctr.name, timeout=10).ip == ip

    ctr.stop(timeout=1)
    assert wait_for(
        "stopped state", lambda: [a for a in network.show(cfg, ctr.name) if a.state == "stopped"]
    )
    ctr.start()
    assert wait_for("re-plumb after stop+start", lambda: ip_in(ctr) == ip)

    daemon_control.stop(cfg)
    assert ip_in(ctr) == ip  # the address stays while the daemon is away
    daemon_control.ensure_running(cfg)
    assert network.wait_attached(cfg, ctr.name, timeout=10).ip == ip
    wait_for(
        "adoption by the new daemon",
        lambda: (
            f"{ctr.name}.lan0: adopted lease {ip}" in (lab.root / "logs" / "daemon.log").read_text()
        ),
        timeout=10,
    )

    # a labelled container is plumbed by the daemon on start, with no attach call
    from devbox.model import labels

    labelled = lab_container(labels={**labels.net_labels(), labels.ROOT: str(lab.root)})
    got = network.wait_attached(cfg, labelled.name, timeout=20)
    assert got.ip and in_range(lab, got.ip) and ip_in(labelled) == got.ip

    # removed while the daemon was down: cleaned up (released) when it starts
    daemon_control.stop(cfg)
    labelled.remove(force=True)
    daemon_control.ensure_running(cfg)
    wait_for(
        "cleanup of the removed container",
        lambda: (
            labelled.name not in lease_ips(lab)
            and not any(r.startswith(labelled.name) for r in records(lab))
        ),
    )
    network.detach(cfg, ctr.name)


def test_docker_rm_releases_with_daemon(lab: LabEnv, lab_container: Any, daemon: int) -> None:
    from devbox.services import network

    cfg = lab.cfg()
    ctr = lab_container()
    network.attach(cfg, ctr.name)
    assert ctr.name in lease_ips(lab)
    ctr.remove(force=True)
    wait_for(
        "release on removal",
        lambda: (
            ctr.name not in lease_ips(lab) and not any(r.startswith(ctr.name) for r in records(lab))
        ),
    )


@pytest.mark.parametrize("signame", ["SIGHUP", "SIGUSR1"])
def test_daemon_survives_a_burst_of_notifications(lab: LabEnv, daemon: int, signame: str) -> None:
    """Every attach and detach pokes the daemon with SIGUSR1 (an adopt or release request;
    SIGHUP when the request file cannot be made); a burst of them (20 clones made or removed
    at once) must not wedge it nor end it (a signal it did not catch would): afterwards it
    still stops on SIGTERM."""
    import signal
    import threading

    from devbox.services import daemon_control
    from devbox.state import daemon_pid

    cfg = lab.cfg()
    signum = getattr(signal, signame)

    def poke() -> None:
        for _ in range(3000):
            os.kill(daemon, signum)

    senders = [threading.Thread(target=poke) for _ in range(4)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(timeout=60)
    assert daemon_pid.running_pid(cfg) == daemon
    daemon_control.stop(cfg, timeout=10)  # raises if it did not stop
    assert daemon_pid.running_pid(cfg) is None
    daemon_control.ensure_running(cfg)  # as the fixture left it


@pytest.mark.slow
def test_renewal_with_short_lease(
    lab_container: Any, tmp_path_factory: pytest.TempPathFactory, engine: Any
) -> None:
    """A 2 minute lease (dnsmasq's minimum) with T1 at 10 s (lab.renewal_time): the daemon
    renews at the T1 the server gave, not at half the lease."""
    from devbox.services import daemon_control, network, nic
    from devbox.services import lab as labsvc
    from tests.fixtures.lab import lab_settings, teardown_lab

    env = lab_settings("r", tmp_path_factory.mktemp(f"lab{RUN_ID}r"))
    env.env["DEVBOX_LAB_LEASE_TIME"] = "2m"
    env.env["DEVBOX_LAB_RENEWAL_TIME"] = "10"
    cfg = env.cfg()
    try:
        labsvc.up(cfg)
        ctr = lab_container()
        att = network.attach(cfg, ctr.name)
        first_expiry = att.lease_expiry
        # the 2 minute lease as dnsmasq granted it (what the record says, not a wall clock)
        [first] = nic.store(cfg).for_container(ctr.name)
        assert first_expiry is not None and first.lease_time == 120, first
        assert first.renewal_time == 10, first
        daemon_control.ensure_running(cfg)
        rec = wait_for(
            "a renewal",
            lambda: [r for r in nic.store(cfg).for_container(ctr.name) if r.renewals >= 1],
            timeout=100,
        )[0]
        assert rec.ip == att.ip and (rec.expires_at or 0) > first_expiry
        assert (rec.obtained or 0) > (first.obtained or 0) and rec.lease_time == 120
        assert ip_in(ctr) == att.ip
        network.detach(cfg, ctr.name)
    finally:
        teardown_lab(env)


def test_same_ip_after_dockerd_restart(
    lab: LabEnv, private_dockerd: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A container with a restart policy on a private dockerd: stop and start dockerd; the
    daemon reconnects to the event stream and re-plumbs it with the same MAC and address."""
    from devbox.adapters.docker import engine
    from devbox.services import daemon_control, network
    from tests.fixtures.engine import build_busybox_image
    from tests.fixtures.lab import busybox_container, unmount_store

    client = private_dockerd.client()
    image = build_busybox_image(client)
    monkeypatch.setenv("DOCKER_HOST", private_dockerd.host)
    engine.reset_client()
    root_env = dict(lab.env)
    root_env["DEVBOX_ROOT"] = str(lab.root / "dockerd-test")
    from devbox import config

    cfg = config.load(environ=root_env, files=())
    try:
        ctr = busybox_container(client, image, restart=True)
        att = network.attach(cfg, ctr.name)
        assert att.ip
        daemon_control.ensure_running(cfg)
        log_path = root_env_path(root_env) / "logs" / "daemon.log"
        # the daemon must be watching before dockerd goes away, or there is nothing to
        # reconnect (a daemon still starting simply connects once dockerd is back)
        assert wait_for(
            "daemon watching events",
            lambda: log_path.exists() and "watching Docker events" in log_path.read_text(),
            timeout=30,
        )
        private_dockerd.stop()
        private_dockerd.start()
        assert wait_for(
            "container restarted by dockerd", lambda: _running(client, ctr.name), timeout=60
        )
        ctr = client.containers.get(ctr.name)
        assert wait_for("re-plumb after dockerd restart", lambda: ip_in(ctr) == att.ip, timeout=30)
        assert network.wait_attached(cfg, ctr.name, timeout=10).ip == att.ip
        log = (root_env_path(root_env) / "logs" / "daemon.log").read_text()
        assert "reconnected to Docker events" in log
        network.detach(cfg, ctr.name)
    finally:
        daemon_control.stop(cfg)
        engine.reset_client()
        unmount_store(lab.root / "dockerd-test")


def root_env_path(env: dict[str, str]) -> Any:
    from pathlib import Path

    return Path(env["DEVBOX_ROOT"])


def _running(client: Any, name: str) -> bool:
    try:
        ctr = client.containers.get(name)
    except Exception:  # noqa: BLE001 - dockerd still starting
        return False
    return bool(ctr.attrs["State"]["Running"])


def test_nak_restarts_discovery_at_once(lab: LabEnv, lab_container: Any) -> None:
    """A lease the server refuses (INIT-REBOOT for an address on another network): dnsmasq
    answers DHCPNAK and the client starts discovery again at once and binds."""
    import copy

    from devbox.services import network, nic

    cfg = lab.cfg()
    ctr = lab_container()
    att = network.attach(cfg, ctr.name)
    rec = nic.store(cfg).load(ctr.name, "lan0")
    assert rec is not None and rec.dhcp_lease
    bogus = copy.deepcopy(rec)
    assert bogus.dhcp_lease is not None
    bogus.dhcp_lease["ack"]["yiaddr"] = "192.0.2.77"
    ctr.reload()
    session = nic.new_session(cfg, bogus, ctr.attrs["State"]["Pid"])
    session.start()
    try:
        info = session.wait_bound(8.0)
    finally:
        session.stop(release=False)
    assert info.ip == att.ip
    log = (lab.root / "lab" / "dnsmasq.log").read_text()
    assert f"DHCPNAK(lab0) 192.0.2.77 {rec.mac}" in log
    network.detach(cfg, ctr.name)


def test_host_reboot_brings_lab_back_and_same_ip(
    lab_container: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """What a reboot leaves: lease file, records and lab state on disk; no namespace, veth,
    shim or dnsmasq; containers restarted in new namespaces. The daemon restores the lab and
    re-plumbs with the same address."""
    from devbox.adapters.net import netlink, netns
    from devbox.model.lab_plan import plan
    from devbox.services import daemon_control, network
    from devbox.services import lab as labsvc
    from tests.fixtures.lab import lab_settings, teardown_lab

    env = lab_settings("b", tmp_path_factory.mktemp(f"lab{RUN_ID}b"))
    cfg = env.cfg()
    try:
        labsvc.up(cfg)
        ctr = lab_container(restart=True)
        ip = network.attach(cfg, ctr.name).ip
        # "power off": everything in kernel memory goes, files stay
        p = plan(cfg)
        pid = labsvc.dnsmasq_pid(p)
        assert pid is not None
        import os
        import signal

        os.kill(pid, signal.SIGKILL)
        netlink.delete_link(p.shim)
        netlink.delete_link(p.uplink)
        netns.remove(p.name)
        assert p.state_file.exists() and not labsvc.is_up(cfg)
        ctr.restart(timeout=1)  # a new netns, as after boot
        daemon_control.ensure_running(cfg)
        assert wait_for(
            "lab restored and container re-plumbed", lambda: ip_in(ctr) == ip, timeout=30
        )
        assert labsvc.is_up(cfg)
        network.detach(cfg, ctr.name)
    finally:
        teardown_lab(env)


def test_stale_interface_holding_the_mac_is_cleaned_up(lab: LabEnv, lab_container: Any) -> None:
    """A leftover host-side interface (a crashed attach) holds the container's MAC on the
    parent: attach waits (bounded), removes it and succeeds instead of hanging."""
    from devbox.adapters.net import netlink
    from devbox.model import macs
    from devbox.services import network

    cfg = lab.cfg()
    ctr = lab_container()
    mac = macs.derive_mac(ctr.name)
    netlink.create_macvlan(lab.uplink, "dbxdeadbeef00", mac=mac, up=True)
    try:
        att = network.attach(cfg, ctr.name)  # its wait for the busy MAC is bounded in code
        assert att.mac == mac and att.ip and ip_in(ctr) == att.ip
        assert netlink.get_link("dbxdeadbeef00") is None
        log = (lab.root / "logs" / f"{ctr.name}.log").read_text()
        assert "removing stale interface dbxdeadbeef00" in log
        network.detach(cfg, ctr.name)
    finally:
        netlink.delete_link("dbxdeadbeef00")


def test_the_shim_on_a_real_parent_takes_no_router_advertisements(lab: LabEnv) -> None:
    """The shim devbox puts on a real parent (``shim_address``) shares the LAN with the
    containers, whose root may send router advertisements: it takes none."""
    from devbox.adapters.net import netlink, netns
    from devbox.model.lab_plan import shim_name
    from devbox.services import host_reach

    name = f"{lab.uplink[:10]}ra"  # stands for a real NIC: a veth into a netns of its own
    peer_ns = f"{lab.name}ra"
    netns.create(peer_ns)
    shim = shim_name(name)
    try:
        netlink.create_veth(name, "p0", peer_ns)
        netlink.set_up(name)
        cfg = lab.cfg(parent=name, shim_address=f"{lab.prefix}250/24")
        assert host_reach.ensure_shim(cfg) == shim
        conf = Path("/proc/sys/net/ipv6/conf") / shim
        if conf.is_dir():  # a kernel without IPv6: nothing to take
            assert (conf / "accept_ra").read_text().strip() == "0"
            assert (conf / "autoconf").read_text().strip() == "0"
        assert netlink.get_link(shim) is not None and netlink.get_link(shim).up
    finally:
        netlink.discard(shim)
        netlink.delete_link(name)
        netns.remove(peer_ns)
