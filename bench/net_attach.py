"""Benchmark: time from a running container to a bound DHCP lease, devbox vs the pipework way.

    sudo .venv/bin/python -m bench.net_attach [--reps 5] [--reps20 2] [--skip-new]

Both tools run in the same process run against the same lab dnsmasq (a lab LAN this script
brings up under a unique name and takes down at the end):

- devbox:   ``devbox.services.network.attach`` (pyroute2 netlink + pyroute2's DHCP client run
            from the host inside the container's netns), called as make-dev-container does;
- baseline: the old pipework way: ``ip link add ... type macvlan mode bridge``, ``ip link set
            ... netns PID``, ``nsenter -t PID -n ip link set ... name lan0 up`` and
            ``nsenter -t PID -n busybox udhcpc -q -n -t 30 -T 1`` with a script that sets the
            address (30 tries a second apart: the patience devbox gets from dhcp_timeout=30).

Cases: 1 and 20 containers attached at once; names the server already knows (a lease is on
file for them) and new names against dnsmasq's default settings (ping check on: ~3 s per new
address). Prints medians and devbox/baseline ratios (< 1: devbox is faster), and the CPU
seconds of a batch (median): devbox's in this process (every attach shares one interpreter,
so a batch cannot take less wall time than its Python CPU), the baseline's in its children.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

UDHCPC_SCRIPT = """#!/bin/sh
# udhcpc event script (what pipework's udhcpc did): set address and default route
case "$1" in
  bound|renew)
    busybox ip addr flush dev "$interface"
    busybox ip addr add "$ip/$mask" dev "$interface"
    [ -n "$router" ] && busybox ip route replace default via "${router%% *}" dev "$interface"
    ;;
esac
exit 0
"""


class Bench:
    def __init__(self, root: Path, tag: str, octet: int, ping_check: bool) -> None:
        from devbox import config

        self.tag = tag
        self.env = {
            "DEVBOX_ROOT": str(root),
            "DEVBOX_LAB_NAME": f"dbxbench{tag}",
            "DEVBOX_LAB_UPLINK": f"dbxb{tag}",
            "DEVBOX_LAB_SUBNET": f"10.214.{octet}.0/24",
            "DEVBOX_LAB_PING_CHECK": "true" if ping_check else "false",
            "DEVBOX_PARENT": "",
            "DEVBOX_DHCP_TIMEOUT": "30",
        }
        self.cfg = config.load(environ=self.env, files=())
        self.uplink = self.env["DEVBOX_LAB_UPLINK"]

    def up(self) -> None:
        from devbox.services import lab

        lab.up(self.cfg)

    def down(self) -> None:
        from devbox.services import lab

        lab.down(self.cfg)


def run_containers(client: Any, image: str, prefix: str, count: int) -> list[Any]:
    out = []
    for _ in range(count):
        name = f"{prefix}{secrets.token_hex(3)}"
        out.append(
            client.containers.run(
                image,
                name=name,
                hostname=name,
                detach=True,
                network_mode="none",
                labels={"devbox.bench": prefix},
            )
        )
    for ctr in out:
        ctr.reload()
    return out


# --- the two tools -------------------------------------------------------------------------


def devbox_attach(bench: Bench, ctr: Any) -> str:
    from devbox.services import network

    att = network.attach(bench.cfg, ctr.name)
    return att.ip or ""


def devbox_forget(bench: Bench, ctr: Any, release: bool) -> None:
    """Remove the interface; with ``release`` also the server's lease (a new name next time)."""
    from devbox.adapters.net import netlink, netns
    from devbox.services import network, nic

    if release:
        network.detach(bench.cfg, ctr.name)
        return
    ctr.reload()
    netlink.delete_link("lan0", netns.pid_path(ctr.attrs["State"]["Pid"]))
    nic.store(bench.cfg).delete(f"{ctr.name}.lan0")


def udhcpc_argv(pid: str, *options: str) -> list[str]:
    """busybox udhcpc on lan0 in the netns of ``pid``, as pipework ran it (quit once bound,
    fail when no lease, foreground), with ``options``."""
    return [
        "nsenter",
        "-t",
        pid,
        "-n",
        "busybox",
        "udhcpc",
        "-i",
        "lan0",
        "-q",
        "-n",
        "-f",
        *options,
    ]


def baseline_attach(bench: Bench, ctr: Any, script: Path) -> str:
    from devbox.model import macs

    ctr.reload()
    pid = str(ctr.attrs["State"]["Pid"])
    tmp = f"pw{secrets.token_hex(4)}"
    mac = macs.derive_mac("pipework:" + ctr.name)
    run(
        [
            "ip",
            "link",
            "add",
            tmp,
            "link",
            bench.uplink,
            "address",
            mac,
            "type",
            "macvlan",
            "mode",
            "bridge",
        ]
    )
    run(["ip", "link", "set", tmp, "netns", pid])
    run(["nsenter", "-t", pid, "-n", "ip", "link", "set", tmp, "name", "lan0"])
    run(["nsenter", "-t", pid, "-n", "ip", "link", "set", "lan0", "up"])
    run(udhcpc_argv(pid, "-t", "30", "-T", "1", "-s", str(script), "-x", f"hostname:{ctr.name}"))
    out = run(["nsenter", "-t", pid, "-n", "ip", "-4", "-o", "addr", "show", "lan0"])
    return out.split()[3].split("/")[0] if " inet " in out else ""


def baseline_forget(bench: Bench, ctr: Any, release: bool) -> None:
    ctr.reload()
    pid = str(ctr.attrs["State"]["Pid"])
    if release:
        run(udhcpc_argv(pid, "-R", "-t", "3", "-T", "1", "-s", "/bin/true"), check=False)
    run(["nsenter", "-t", pid, "-n", "ip", "link", "del", "lan0"], check=False)


def run(argv: list[str], check: bool = True) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {result.stderr.strip()}")
    return result.stdout


# --- measuring -----------------------------------------------------------------------------


FAILURES: dict[str, int] = {}
CPU: dict[str, list[float]] = {}  # label -> CPU seconds per batch (this process + children)


def timed_batch(
    fn: Callable[[Any], str], ctrs: list[Any], label: str = ""
) -> tuple[float, list[str]]:
    """Wall time for attaching all ``ctrs`` at once (one thread each). A failed attach counts
    in FAILURES[label] and yields ""."""

    def one(ctr: Any) -> str:
        try:
            return fn(ctr)
        except Exception as err:  # noqa: BLE001 - counted and reported
            FAILURES[label] = FAILURES.get(label, 0) + 1
            print(f"  {label}: {ctr.name}: {str(err).splitlines()[-1][:120]}", file=sys.stderr)
            return ""

    c0 = os.times()
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(ctrs)) as pool:
        ips = list(pool.map(one, ctrs))
    seconds = time.perf_counter() - t0
    c1 = os.times()
    used = sum(b - a for a, b in zip(c0[:4], c1[:4], strict=True))  # user, sys, children's
    CPU.setdefault(label, []).append(used)
    return seconds, ips


def measure(
    label: str,
    attach: Callable[[Any], str],
    forget: Callable[[Any, bool], None],
    ctrs: list[Any],
    reps: int,
    known: bool,
    fresh: Callable[[], list[Any]] | None,
) -> list[float]:
    times = []
    if known:  # teach the server these names once, keep the leases
        timed_batch(attach, ctrs, "warm-up " + label)
        for ctr in ctrs:
            forget(ctr, False)
    for _ in range(reps):
        batch = ctrs if known or fresh is None else fresh()
        seconds, ips = timed_batch(attach, batch, label)
        times.append(seconds)
        for ctr, ip in zip(batch, ips, strict=True):
            try:
                forget(ctr, not known)
            except Exception:
                if ip:
                    raise
    return times


def main(argv: list[str] | None = None) -> int:
    import docker

    from tests.fixtures.engine import build_busybox_image

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5, help="repetitions, 1 container")
    parser.add_argument("--reps20", type=int, default=3, help="repetitions, 20 containers")
    parser.add_argument("--skip-new", action="store_true", help="skip the new-names case")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("needs root", file=sys.stderr)
        return 2
    for tool in ("ip", "nsenter", "busybox", "dnsmasq"):
        if not shutil.which(tool) and not shutil.which(tool, path="/usr/sbin:/sbin"):
            print(f"missing {tool}", file=sys.stderr)
            return 2

    client = docker.from_env(timeout=120)
    image = build_busybox_image(client)
    tag = secrets.token_hex(2)
    workdir = Path(tempfile.mkdtemp(prefix=f"dbxbench{tag}"))
    script = workdir / "udhcpc.sh"
    script.write_text(UDHCPC_SCRIPT)
    script.chmod(0o755)
    octet = 3 + secrets.randbelow(120)
    known_lab = Bench(workdir / "known", f"{tag}k", octet, ping_check=False)
    new_lab = Bench(workdir / "new", f"{tag}n", octet + 121, ping_check=True)
    made: list[Any] = []
    results: dict[tuple[str, int], dict[str, list[float]]] = {}

    def fresh(count: int, who: str) -> Callable[[], list[Any]]:
        def make() -> list[Any]:
            ctrs = run_containers(client, image, f"dbxbench{tag}{who}", count)
            made.extend(ctrs)
            return ctrs

        return make

    try:
        known_lab.up()
        for count, reps in ((1, args.reps), (20, args.reps20)):
            dv = fresh(count, "d")()
            pw = fresh(count, "p")()
            results[("known names, no ping check", count)] = {
                "devbox": measure(
                    f"devbox known x{count}",
                    lambda c: devbox_attach(known_lab, c),
                    lambda c, r: devbox_forget(known_lab, c, r),
                    dv,
                    reps,
                    True,
                    None,
                ),
                "baseline": measure(
                    f"baseline known x{count}",
                    lambda c: baseline_attach(known_lab, c, script),
                    lambda c, r: baseline_forget(known_lab, c, r),
                    pw,
                    reps,
                    True,
                    None,
                ),
            }
            report(results)
        if not args.skip_new:
            new_lab.up()
            for count, reps in ((1, max(1, args.reps // 2)), (20, 1)):
                results[("new names, dnsmasq ping check on", count)] = {
                    "devbox": measure(
                        f"devbox new x{count}",
                        lambda c: devbox_attach(new_lab, c),
                        lambda c, r: devbox_forget(new_lab, c, r),
                        [],
                        reps,
                        False,
                        fresh(count, "d"),
                    ),
                    "baseline": measure(
                        f"baseline new x{count}",
                        lambda c: baseline_attach(new_lab, c, script),
                        lambda c, r: baseline_forget(new_lab, c, r),
                        [],
                        reps,
                        False,
                        fresh(count, "p"),
                    ),
                }
                report(results)
    finally:
        for ctr in made:
            try:
                ctr.remove(force=True)
            except Exception:  # noqa: BLE001
                pass
        known_lab.down()
        new_lab.down()
        shutil.rmtree(workdir, ignore_errors=True)
    print("\nfinal")
    report(results)
    for label, count in FAILURES.items():
        print(f"failed attaches: {label}: {count}")
    return 0


WHO = ("devbox", "baseline")


def report(results: dict[tuple[str, int], dict[str, list[float]]]) -> None:
    print(
        f"{'case':<36} {'n':>3} {'devbox med':>11} {'baseline med':>13} {'ratio':>7}"
        f" {'devbox cpu':>11} {'baseline cpu':>13}  runs, spread (min-max) devbox | baseline"
    )
    for (case, count), by in results.items():
        dv = statistics.median(by["devbox"])
        pw = statistics.median(by["baseline"])
        kind = "known" if case.startswith("known") else "new"
        cpu = [statistics.median(CPU.get(f"{who} {kind} x{count}") or [0.0]) for who in WHO]
        print(
            f"{case:<36} {count:>3} {dv:>10.3f}s {pw:>12.3f}s {dv / pw:>7.2f}"
            f" {cpu[0]:>10.3f}s {cpu[1]:>12.3f}s  {len(by['devbox'])}x"
            f" {min(by['devbox']):.3f}-{max(by['devbox']):.3f}"
            f" | {min(by['baseline']):.3f}-{max(by['baseline']):.3f}"
        )
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average (1, 5, 15 min): {load} on {os.cpu_count()} CPUs")
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
