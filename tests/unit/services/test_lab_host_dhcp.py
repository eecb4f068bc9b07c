"""A simulated host's own DHCP client: the command ``lab up --hosts`` starts in its netns."""

from __future__ import annotations

import sys
from pathlib import Path

from devbox import config
from devbox.model import lab_hosts_plan as hp
from devbox.model.lab_plan import plan as lab_plan
from devbox.services import lab_host_dhcp


def test_the_keeper_runs_this_devbox_for_the_hosts_uplink_mac_and_name() -> None:
    lab = lab_plan(config.load(environ={"DEVBOX_ROOT": "/tmp/dbx-unit"}, files=()))
    h = hp.plan(lab, Path("/tmp/dbx-unit/lab-hosts"), 2).hosts[0]
    argv = lab_host_dhcp.argv(h)
    assert argv[:4] == [sys.executable, "-P", "-m", "devbox.services.lab_host_dhcp"]
    assert argv[4:] == [h.netns, hp.HOST_IFNAME, h.mac, h.name]
    assert lab_host_dhcp.log_file(h).parent == h.dir  # removed with the host's folder
