"""The lab LAN as a bridge, for ``lab up --hosts N``: several uplinks on one LAN.

Inside the lab's netns, ``lab0`` (the peer of this machine's uplink) becomes a port of bridge
``labbr0``, which takes the lab's address; dnsmasq moves to the bridge. Each simulated host's
uplink is another port (:mod:`devbox.services.lab_hosts`). A single-host lab works the same
on the bridge, and ``lab up`` keeps serving on it (``lab_hosts_plan.bridged``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from devbox import jsonfile
from devbox.config import Config
from devbox.model import lab_hosts_plan as hp
from devbox.model.lab_plan import ULA_PREFIXLEN, LabPlan
from devbox.oplog import OpLog
from devbox.services import lab
from devbox.services import lab_host_procs as procs
from devbox.steps import JobSteps, StepContext


@dataclass
class BridgeJob:
    cfg: Config
    lab: LabPlan
    log: OpLog


def _restart_lab(job: BridgeJob) -> None:
    """dnsmasq stopped, then ``lab up`` again (same VLANs): it starts dnsmasq on the interface
    the lab has now (the bridge, or the veth again)."""
    p = job.lab
    pid = lab.dnsmasq_pid(p)
    if pid is not None:
        procs.terminate(pid, procs.DEFAULT_GRACE)
    p.pid_file.unlink(missing_ok=True)
    try:
        vlans = jsonfile.read_json(p.state_file, missing={}).get("vlans") or []
    except jsonfile.CorruptRecord:
        vlans = []
    lab.up(job.cfg, vlans=tuple(int(v) for v in vlans))


def _unbridge(job: BridgeJob) -> None:
    """Undo of make_bridge: the lab served on its veth again (as before ``--hosts``)."""
    from devbox.adapters.net import netlink, netns

    netlink.discard(hp.BRIDGE_IFNAME, netns.named_path(job.lab.name))
    _restart_lab(job)


def make_bridge(job: BridgeJob, ctx: StepContext) -> None:
    """lab0 (the peer of this machine's uplink) becomes a port of a bridge that holds the
    lab's address; dnsmasq moves to the bridge. Every simulated host's uplink is a port too."""
    from devbox.adapters.net import bridge, netlink, netns

    p, ns = job.lab, netns.named_path(job.lab.name)
    veth = netlink.get_link(p.ns_ifname, ns)
    # the bridge keeps lab0's MAC: what the LAN knows as the lab's address stays as it was
    made = bridge.create_bridge(hp.BRIDGE_IFNAME, ns, mac=veth.mac if veth else None)
    if made:
        ctx.undo("serve the lab on its veth again", lambda: _unbridge(job))
    if bridge.master_of(p.ns_ifname, ns) != hp.BRIDGE_IFNAME:
        bridge.enslave(p.ns_ifname, hp.BRIDGE_IFNAME, ns)
    served = hp.bridged(p)
    bridge.delete_address(p.ns_ifname, p.gateway, p.prefixlen, ns)
    if p.ipv6_gateway:  # P::1 moves to the bridge too (lab up adds it there)
        bridge.delete_address(p.ns_ifname, p.ipv6_gateway, ULA_PREFIXLEN, ns)
    netlink.add_address(hp.BRIDGE_IFNAME, p.gateway, p.prefixlen, ns)
    if made or f"interface={served.ns_ifname}\n" not in _text(p.conf_file):
        _restart_lab(job)
        ctx.info(f"lab {served.name} serves on {served.ns_ifname}")
    else:
        ctx.skip("the lab is a bridge already")


def _text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


STEPS: JobSteps[BridgeJob] = [("lab bridge", make_bridge)]
