"""A simulated lab host's own DHCP client: what dhclient or systemd-networkd is on a real host.

``lab up --hosts`` gets each host its address with a client that stops once bound (the address
stays on the uplink); this process then keeps that lease, renewing it for as long as the host
lives, so the lab's dnsmasq never lets the host's address run out and hand it to another
machine. It runs inside the host's network namespace, recorded in the host's ``host.json``
(``dhcp``: PID and start time) like its dockerd, sshd and service, and stopped with them.

    python -P -m devbox.services.lab_host_dhcp NETNS IFNAME MAC HOSTNAME
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from typing import Protocol

from devbox.config import Config
from devbox.model import lab_hosts_plan as hp
from devbox.oplog import OpLog
from devbox.services import lab_host_procs as procs
from devbox.steps import StepContext

WHAT = "dhcp"  # its key in host.json
BIND_TIMEOUT = 60.0
CHECK_EVERY = 5.0  # how often the keeper looks whether its client still runs


class HostJob(Protocol):
    """What the step needs of ``lab_hosts.HostJob``."""

    cfg: Config
    host: hp.SimHost
    log: OpLog
    environ: dict[str, str]


def argv(host: hp.SimHost) -> list[str]:
    return [
        sys.executable,
        "-P",
        "-m",
        "devbox.services.lab_host_dhcp",
        host.netns,
        host.uplink,
        host.mac,
        host.name,
    ]


def log_file(host: hp.SimHost) -> Path:
    return host.dir / "dhcp.out"


def running(host: hp.SimHost) -> bool:
    return procs.running_in(host, WHAT)


def stop(host: hp.SimHost) -> bool:
    return procs.stopper(host, WHAT)()


def step(job: HostJob, ctx: StepContext) -> None:
    """The ``lab up --hosts`` step: the host's DHCP client, started unless it runs."""

    h = job.host
    if running(h):
        ctx.skip("running")
    env = {"PATH": job.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")}
    if "DEVBOX_TEST_RUN_ID" in job.environ:
        env["DEVBOX_TEST_RUN_ID"] = job.environ["DEVBOX_TEST_RUN_ID"]
    procs.spawn_in(h, WHAT, argv(h), log_file(h), env, job.log)
    ctx.undo(f"stop the DHCP client of {h.name}", lambda: stop(h))
    procs.wait_started(h, WHAT, lambda: "renewing" in _tail(h), log_file(h), BIND_TIMEOUT)


def _tail(host: hp.SimHost) -> str:
    try:
        with open(log_file(host), "rb") as fh:
            fh.seek(0, 2)
            fh.seek(max(fh.tell() - 4096, 0))
            return fh.read().decode(errors="replace")
    except OSError:
        return ""


def main(args: list[str]) -> int:
    """Keep the lease of the host's uplink until SIGTERM (never released: the address stays
    the host's); exit 1 when the client fails."""
    from devbox.adapters.net import dhcp, netns
    from devbox.model.macs import client_id

    ns_name, ifname, mac, hostname = args
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    session = dhcp.DhcpSession(
        netns=netns.named_path(ns_name),
        ifname=ifname,
        mac=mac,
        hostname=hostname,
        client_id=client_id(hostname),
        name=f"{hostname}'s DHCP client",
    ).start()
    try:
        info = session.wait_bound(BIND_TIMEOUT)
        print(f"{hostname}: {info.ip}/{info.prefixlen} on {ifname}, renewing", flush=True)
        # a daemon: it runs as long as the host; each wait ends at SIGTERM at once
        while session.alive and not done.wait(CHECK_EVERY):
            pass
        if not done.is_set():
            print(f"{hostname}: the DHCP client stopped: {session.error}", flush=True)
            return 1
        return 0
    except Exception as err:  # noqa: BLE001 - the one line in dhcp.out says why
        print(f"{hostname}: {err}", flush=True)
        return 1
    finally:
        session.stop(release=False)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
