"""The lab LAN against real parts: netns, veth, dnsmasq, a busybox container asking for DHCP."""

from __future__ import annotations

import json
import os
import signal
from typing import Any

import pytest

from devbox.errors import NotReadyError
from tests import skips, waits
from tests.conftest import RUN_ID
from tests.fixtures.lab import LabEnv, devbox_cli, lab_settings, teardown_lab
from tests.fixtures.service_jobs import stop_service

pytestmark = pytest.mark.integration


def _links() -> set[str]:
    from devbox.adapters.net import netlink

    # only this run's: names with the run id, and anything hanging off one of them (macvlans,
    # devbox's temporary dbx* names included); other runs and dockerd add links meanwhile
    links = netlink.links()
    ours = {li.index for li in links if RUN_ID in li.name}
    return {li.name for li in links if li.index in ours or li.link in ours}


def dnsmasq_alive(pid: int) -> bool:
    """A live (not zombie) dnsmasq with this pid."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            stat = fh.read()
    except OSError:
        return False
    return "(dnsmasq)" in stat and stat.split(") ", 1)[1][0] != "Z"


def test_lab_up_answers_dhcp_and_down_leaves_nothing(
    engine: Any, lab_container: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from devbox.adapters.net import netns
    from devbox.services import doctor, lab, network

    env = lab_settings("d", tmp_path_factory.mktemp(f"lab{RUN_ID}d"))
    cfg = env.cfg()
    before = _links()
    try:
        up = devbox_cli(env.full_env(), "common", "lab", "up")
        assert up.returncode == 0, up.stderr
        st = json.loads(devbox_cli(env.full_env(), "common", "lab", "status", "--json").stdout)
        assert st["up"] and st["dnsmasq_alive"] and st["subnet"] == env.subnet
        pid = st["dnsmasq_pid"]
        assert open(f"/proc/{pid}/comm").read().strip() == "dnsmasq"
        assert os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat(netns.named_path(env.name)).st_ino
        assert doctor.check_parent(cfg).ok

        # idempotent; a dead dnsmasq is restarted
        assert devbox_cli(env.full_env(), "common", "lab", "up").returncode == 0
        assert lab.status(cfg).dnsmasq_pid == pid
        os.kill(pid, signal.SIGKILL)
        waits.wait_for(lambda: not lab.status(cfg).dnsmasq_alive, 10, "the killed dnsmasq to die")
        assert not doctor.check_parent(cfg).ok
        lab.up(cfg)
        new_pid = lab.status(cfg).dnsmasq_pid
        assert new_pid != pid and lab.status(cfg).dnsmasq_alive

        # a DHCP request made from a container is answered and shows in status
        ctr = lab_container()
        att = network.attach(cfg, ctr.name)
        assert att.ip is not None and att.ip.startswith(env.prefix)
        shown = json.loads(devbox_cli(env.full_env(), "common", "lab", "status", "--json").stdout)
        assert [le["hostname"] for le in shown["leases"] if le["ip"] == att.ip] == [ctr.name]
        text = devbox_cli({**env.full_env(), "COLUMNS": "200"}, "common", "lab", "status").stdout
        assert att.ip in text and ctr.name in text
        network.detach(cfg, ctr.name)
    finally:
        down = devbox_cli(env.full_env(), "common", "lab", "down")
        stop_service(env.root)  # root's CLI started the service that ran lab up and down
    assert down.returncode == 0, down.stderr
    assert not netns.exists(env.name)
    assert _links() - before == set()
    assert env.uplink not in _links()
    assert not dnsmasq_alive(new_pid)
    assert not (env.root / "lab" / "dnsmasq.pid").exists()
    try:
        assert devbox_cli(env.full_env(), "common", "lab", "status").returncode == 3
    finally:
        stop_service(env.root)
    assert not lab.check_parent(cfg).ok


def test_lab_never_routes_out(lab: LabEnv) -> None:
    from devbox.adapters.net import netns

    def routes() -> list[Any]:
        from pyroute2 import IPRoute

        with IPRoute() as ipr:
            return [r.get("RTA_DST") for r in ipr.get_routes(family=2, table=254)]

    def forwarding() -> str:
        with open("/proc/sys/net/ipv4/ip_forward") as fh:
            return fh.read().strip()

    ns = netns.named_path(lab.name)
    assert None not in netns.run_in(ns, routes)  # no default route inside the lab
    assert netns.run_in(ns, forwarding) == "0"
    conf = (lab.root / "lab" / "dnsmasq.conf").read_text()
    assert "no-resolv" in conf and "server=" not in conf


def test_a_second_lab_on_a_taken_subnet_is_refused_and_leaves_nothing(
    lab: LabEnv, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Another lab (or any network of this host) on the subnet already: the host's traffic for
    it would go to one of the two, the other's containers unreachable (a leftover lab of an
    interrupted run once cost a CI run 7 tests that way). Refused before anything is made,
    naming the interface that has it; the first lab is untouched."""
    from devbox.adapters.net import netlink, netns
    from devbox.model.lab_plan import shim_name
    from devbox.services import lab as labsvc

    other = lab_settings("o", tmp_path_factory.mktemp(f"lab{RUN_ID}o"))
    other.subnet = other.env["DEVBOX_LAB_SUBNET"] = lab.subnet
    gateway = lab.prefix + "1"
    assert netlink.route_link(gateway) is not None
    via_before = netlink.route_link(gateway)
    before = _links()
    try:
        result = devbox_cli(other.full_env(), "common", "lab", "up")
        assert result.returncode == 2, result.stderr
        (error,) = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
        assert f"overlaps {lab.subnet} on {shim_name(lab.uplink)}" in error, result.stderr
        assert not netns.exists(other.name) and _links() == before
        assert not (other.root / "lab" / "dnsmasq.pid").exists()
        assert netlink.route_link(gateway) == via_before  # the first lab's path is its own
        # idempotent for the lab that has it: its own shim is not a clash
        labsvc.up(lab.cfg())
    finally:
        stop_service(other.root)
        teardown_lab(other)


def test_lab_vlan_fails_clearly_here_and_leaves_nothing(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    from devbox.adapters.host import kernel
    from devbox.adapters.net import netns
    from devbox.services import lab

    skips.need_no_vlan_support(kernel.kernel_has("VLAN_8021Q"))  # allow-listed
    env = lab_settings("v", tmp_path_factory.mktemp(f"lab{RUN_ID}v"))
    before = _links()
    try:
        with pytest.raises(NotReadyError, match=r"802\.1Q"):
            lab.up(env.cfg(), vlans=(42,))
        result = devbox_cli(env.full_env(), "common", "lab", "up", "--vlan", "42")
        assert result.returncode == 3
        assert "802.1Q" in result.stderr and len(result.stderr.strip().splitlines()) <= 3
        assert not netns.exists(env.name) and _links() == before
        assert not (env.root / "lab" / "dnsmasq.pid").exists()
    finally:
        teardown_lab(env)


def test_lab_up_without_dnsmasq_names_the_apt_command(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    from devbox.adapters.net import netns
    from devbox.services import lab

    env = lab_settings("n", tmp_path_factory.mktemp(f"lab{RUN_ID}n"))
    before = _links()
    # dnsmasq is installed here: point the setting at a program that is not
    missing = str(env.root / "no-such-dir" / "dnsmasq")
    with pytest.raises(NotReadyError, match="dnsmasq is not installed") as err:
        lab.up(env.cfg(**{"lab.dnsmasq": missing}))
    assert err.value.hint is not None and "apt-get install -y dnsmasq-base" in err.value.hint
    assert not netns.exists(env.name) and _links() == before
