"""Benchmark: make-dev-container (image present, no checkout) until SSH answers, devbox vs the
old way, in the same run against the same lab dnsmasq.

    sudo .venv/bin/python -m bench.make_dev [--reps 5]

- devbox:   the whole ``devbox dockeruser make-dev-container NAME --branch bench --no-checkout``
            command (a new process each time: Python start-up, every step, SSH keys, license,
            SSH config), then ``remove-dev-container --purge``. The boot-to-SSH part (start
            container + attach LAN + wait for sshd) is read from the step durations in its log.
- baseline: the pipework way: ``docker run`` of the same dev image with the same systemd
            settings, macvlan via ``ip`` + ``nsenter ... busybox udhcpc``, then a loop waiting for
            port 22 to answer with an SSH banner.

Names are reused between repetitions, so the DHCP server knows them (the lab skips its ping
check, as it owns its range). Prints medians and devbox/baseline ratios.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.net_attach import UDHCPC_SCRIPT, Bench, baseline_attach
from tests.cli import devbox_argv


def wait_ssh(ip: str, timeout: float = 60) -> None:
    from devbox.waits import poll

    def banner() -> bool:
        try:
            with socket.create_connection((ip, 22), timeout=1) as sock:
                sock.settimeout(2)
                return sock.recv(4).startswith(b"SSH")
        except OSError:
            return False

    if not poll(banner, timeout, 0.02):
        raise RuntimeError(f"no sshd on {ip} within {timeout}s")


def baseline_once(client: Any, bench: Bench, image: str, name: str, script: Path) -> float:
    from devbox.model.vmstyle import systemd_run_kwargs

    t0 = time.perf_counter()
    kwargs = systemd_run_kwargs(
        name=name, image=image, opt_dir=None, labels={"devbox.bench": "baseline"}
    )
    kwargs.pop("network_disabled", None)  # the old way: plain docker run --net=none
    image_ref = kwargs.pop("image")
    ctr = client.containers.run(image_ref, **kwargs)
    ip = baseline_attach(bench, ctr, script)  # ip + nsenter + busybox udhcpc, as pipework did
    wait_ssh(ip)
    seconds = time.perf_counter() - t0
    ctr.remove(force=True)
    return seconds


STEP_RE = re.compile(
    r"\[(start container|attach LAN \(DHCP\)|wait for sshd)\] done in "
    r"([0-9.]+)s"
)
ANY_STEP_RE = re.compile(r"\[([^]]+)\] done in ([0-9.]+)s")
STEP_TIMES: dict[str, list[float]] = {}


def devbox_once(env: dict[str, str], name: str) -> tuple[float, float]:
    argv = devbox_argv(
        ["dockeruser", "make-dev-container", name, "--branch", "bench", "--no-checkout"]
    )
    t0 = time.perf_counter()
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300, check=False)
    seconds = time.perf_counter() - t0
    if result.returncode != 0:
        raise RuntimeError(f"devbox make failed: {result.stderr}")
    log = (Path(env["DEVBOX_ROOT"]) / "logs" / f"{name}.log").read_text()
    last_make = log[log.rindex(": 9 steps") :]
    boot = sum(float(m.group(2)) for m in STEP_RE.finditer(last_make))
    for m in ANY_STEP_RE.finditer(last_make):
        STEP_TIMES.setdefault(m.group(1), []).append(float(m.group(2)))
    subprocess.run(
        devbox_argv(["dockeruser", "remove-dev-container", name, "--yes", "--purge"]),
        env=env,
        capture_output=True,
        timeout=120,
        check=True,
    )
    return seconds, boot


def main(argv: list[str] | None = None) -> int:
    import docker

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("needs root", file=sys.stderr)
        return 2
    client = docker.from_env(timeout=120)
    tag = secrets.token_hex(2)
    workdir = Path(tempfile.mkdtemp(prefix=f"dbxbenchmk{tag}"))
    bench = Bench(workdir / "root", tag, 130 + secrets.randbelow(100), ping_check=False)
    from devbox.oplog import OpLog
    from devbox.services import bases, images

    print("building/finding the dev image ...", flush=True)
    bases.build_base(bench.cfg, "debian-12", log=OpLog(workdir / "base.log"))
    image = images.build_image(bench.cfg, "dev", log=OpLog(workdir / "dev.log")).tag
    script = workdir / "udhcpc.sh"
    script.write_text(UDHCPC_SCRIPT)
    script.chmod(0o755)
    branch_map = workdir / "branches.toml"
    branch_map.write_text(
        f'[[branch]]\nname = "bench"\nvcs = "git"\nurl = "{workdir}/none"\n'
        f'image = "{image}"\nlicense = "none"\n'
    )
    env = {
        **os.environ,
        **bench.env,
        "HOME": str(workdir / "home"),
        "NO_COLOR": "1",
        "DEVBOX_BRANCHES_MAP": str(branch_map),
    }
    (workdir / "home").mkdir()
    bench.up()
    try:
        from devbox.services import daemon_control

        daemon_control.ensure_running(bench.cfg)
        base_times, dbx_times, boot_times = [], [], []
        # one warm-up each (teaches dnsmasq the names, warms the page cache)
        baseline_once(client, bench, image, f"dbxbm{tag}b", script)
        devbox_once(env, f"dbxbm{tag}d")
        for _ in range(args.reps):
            base_times.append(baseline_once(client, bench, image, f"dbxbm{tag}b", script))
            total, boot = devbox_once(env, f"dbxbm{tag}d")
            dbx_times.append(total)
            boot_times.append(boot)
        b, d, boot = (statistics.median(x) for x in (base_times, dbx_times, boot_times))
        print(f"\nmake-dev-container to SSH-ready, {args.reps} reps (medians)")
        print(f"  baseline (docker run + pipework/udhcpc + port-22 loop): {b:.2f} s")
        print(
            f"  devbox, whole command (new process, all 9 steps):       {d:.2f} s"
            f"   ratio {d / b:.2f}"
        )
        print(
            f"  devbox, boot-to-SSH part (container + LAN + sshd):      {boot:.2f} s"
            f"   ratio {boot / b:.2f}"
        )
        print(
            "  devbox steps (medians): "
            + ", ".join(
                f"{step} {statistics.median(times):.2f}" for step, times in STEP_TIMES.items()
            )
        )
        print(
            f"  raw: baseline {[round(x, 2) for x in base_times]}, devbox "
            f"{[round(x, 2) for x in dbx_times]}, boot {[round(x, 2) for x in boot_times]}"
        )
    finally:
        from devbox.services import daemon_control

        for ctr in client.containers.list(all=True, filters={"label": "devbox.bench=baseline"}):
            ctr.remove(force=True)
        daemon_control.stop(bench.cfg)
        bench.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
