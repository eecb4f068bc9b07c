"""Benchmark: make-dev-container (image present, no checkout) until SSH answers, devbox vs the
old way, in the same run against the same lab dnsmasq.

    sudo .venv/bin/python -m bench.make_dev [--reps 5]

- devbox:   the whole ``devbox dockeruser make-dev-container NAME --branch bench --no-checkout``
            command as root (a new process each time: Python start-up, every step, SSH keys,
            license, SSH config), then ``remove-dev-container --purge``. The boot-to-SSH part
            (start container + attach LAN + wait for sshd) is read from the step durations in
            its log.
- service:  the same command as a user runs it: a bench account (useradd, in the service's
            group: by default one of the bench's own, as the integration tests on a shared
            host add and delete group ``devbox``; ``--group devbox`` for that one) whose devbox
            is a client of the devbox service (``devbox common daemon`` of the bench's root,
            started before timing). Timed from the client process's start to its
            end (the command returns once sshd answers); then the user's own ``ssh NAME true``
            must work (not timed).
- baseline: the pipework way: ``docker run`` of the same dev image with the same systemd
            settings, macvlan via ``ip`` + ``nsenter ... busybox udhcpc``, then a loop waiting for
            port 22 to answer with an SSH banner.

Names are reused between repetitions, so the DHCP server knows them (the lab skips its ping
check, as it owns its range). Prints medians, each row's spread (min-max of single runs) and
the ratios against the baseline of the same run.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.net_attach import UDHCPC_SCRIPT, Bench, baseline_attach
from bench.service_user import ServiceUser, start_service
from tests.cli import devbox_argv


def wait_ssh(ip: str, timeout: float = 60) -> None:
    from devbox.waits import poll

    if not poll(lambda: ssh_banner(ip), timeout, 0.02):
        raise RuntimeError(f"no sshd on {ip} within {timeout}s")


def ssh_banner(ip: str) -> bool:
    try:
        with socket.create_connection((ip, 22), timeout=1) as sock:
            sock.settimeout(2)
            return sock.recv(4).startswith(b"SSH")
    except OSError:
        return False


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


BOOT_STEPS = ("start container", "attach LAN (DHCP)", "wait for sshd")
ANY_STEP_RE = re.compile(r"\[([^]]+)\] done in ([0-9.]+)s")
IP_RE = re.compile(r"^\W*IP\W+([0-9]+(?:\.[0-9]+){3})\b", re.M)


MAKE_ARGS = ("--branch", "bench", "--no-checkout")
GROUP_HELP = "the service's group (default: one of the bench's own; devbox: the real one)"


@dataclass
class Host:
    """The bench's root, lab LAN, dev image and branch map, its service and its user."""

    tag: str
    workdir: Path
    shared: Path  # world-readable: the service's socket and the branch map
    bench: Bench
    image: str
    env: dict[str, str]  # root's CLI environment (and the service's settings)
    cfg: Any  # the service's Config
    user: ServiceUser
    client: Any
    script: Path

    @property
    def root(self) -> Path:
        return Path(self.env["DEVBOX_ROOT"])

    def audited(self, name: str) -> bool:
        path = self.root / "logs" / "audit.log"
        return path.exists() and f'"target":"{name}"' in path.read_text()

    def timeline(self, name: str, launched: float, ended: float) -> dict[str, float]:
        """Where the wall time of the last make of ``name`` through the service went, from
        the service's audit record (its end and duration) and the job's log (first step
        started, last step done): client start-up until the service has the request, the
        job's start, its steps, its reply, and the client's end (ssh entry, exit)."""
        import json
        from datetime import datetime

        lines = (self.root / "logs" / "audit.log").read_text().splitlines()
        records = [json.loads(line) for line in lines]
        audit = [r for r in records if (r.get("command"), r.get("target")) == ("make", name)][-1]
        received = float(audit["time"]) - float(audit["seconds"])
        log = (self.root / "logs" / f"{name}.log").read_text()
        last_make = log[max(0, log.rindex(": 9 steps") - 120) :].splitlines()
        began = [ln for ln in last_make if ln.endswith(": 9 steps")][-1]
        done = [ln for ln in last_make if f"== make-dev-container {name}: done" in ln][-1]

        def stamp(line: str) -> float:
            return datetime.fromisoformat(line.split(" ", 1)[0]).timestamp()

        return {
            "client start-up, request sent": received - launched,
            "job start (service)": stamp(began) - received,
            "steps (service)": stamp(done) - stamp(began),
            "job end, reply (service)": float(audit["time"]) - stamp(done),
            "client after the reply": ended - float(audit["time"]),
        }

    def last_steps(self, name: str) -> dict[str, float]:
        """Step durations of the last make of ``name`` (from its log; the service's jobs
        write the same log)."""
        log = (self.root / "logs" / f"{name}.log").read_text()
        last_make = log[log.rindex(": 9 steps") :]
        return {m.group(1): float(m.group(2)) for m in ANY_STEP_RE.finditer(last_make)}


@contextmanager
def bench_host(prefix: str, keep_logs: bool = False, group: str = "") -> Iterator[Host]:
    """Everything a bench of the service needs, taken down at the end (containers of this
    root, the service, the account, the lab, the root's folder unless ``keep_logs``)
    whatever happens, Ctrl-C included. ``group``: the service's (and the user's) group;
    empty: one of the bench's own, made and removed here."""
    import docker

    from devbox import config
    from devbox.oplog import OpLog
    from devbox.services import bases, images

    client = docker.from_env(timeout=120)
    tag = secrets.token_hex(2)
    workdir = Path(tempfile.mkdtemp(prefix=f"{prefix}{tag}"))
    shared = Path(f"/run/{prefix}{tag}")
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    bench = Bench(workdir / "root", tag, 130 + secrets.randbelow(100), ping_check=False)
    print(f"bench {tag}: root {workdir / 'root'}, socket {shared / 'devbox.sock'}", flush=True)
    print("building/finding the dev image ...", flush=True)
    bases.build_base(bench.cfg, "debian-12", log=OpLog(workdir / "base.log"))
    image = images.build_image(bench.cfg, "dev", log=OpLog(workdir / "dev.log")).tag
    script = workdir / "udhcpc.sh"
    script.write_text(UDHCPC_SCRIPT)
    script.chmod(0o755)
    branch_map = shared / "branches.toml"
    branch_map.write_text(
        f'[[branch]]\nname = "bench"\nvcs = "git"\nurl = "{workdir}/none"\n'
        f'image = "{image}"\nlicense = "none"\n'
    )
    branch_map.chmod(0o644)
    # the service's group is the bench's own: the integration tests running on this host at
    # the same time add and delete group devbox (and with it a bench user's way in)
    group = group or f"{prefix}{tag}g"
    settings = {
        **bench.env,
        "DEVBOX_BRANCHES_MAP": str(branch_map),
        "DEVBOX_SERVICE_SOCKET": str(shared / "devbox.sock"),
        "DEVBOX_SERVICE_GROUP": group,
    }
    env = {**os.environ, **settings, "HOME": str(workdir / "home"), "NO_COLOR": "1"}
    (workdir / "home").mkdir()
    cfg = config.load(environ=settings, files=())
    user = ServiceUser(f"{prefix}{tag}", settings, group)
    host = Host(tag, workdir, shared, bench, image, env, cfg, user, client, script)
    try:
        bench.up()
        user.open()  # before the service: its socket's group must exist
        start_service(cfg, shared / "devbox.sock")
        yield host
    finally:
        for line in take_down(host, keep_logs):
            print(f"cleanup: {line}", file=sys.stderr)


def take_down(host: Host, keep: bool = False) -> list[str]:
    """Remove what :func:`bench_host` made, each part on its own (one failing, say a
    restarting Docker engine, does not keep the others); what is left, as messages."""
    from devbox.adapters.docker import containers as dc
    from devbox.model import labels
    from devbox.services import container_lifecycle, daemon_control

    problems: list[str] = []

    def attempt(what: str, fn: Callable[[], object]) -> None:
        try:
            fn()
        except Exception as err:  # noqa: BLE001 - reported, the rest still goes
            problems.append(f"{what}: {err}")

    def containers() -> None:
        filters = {"label": "devbox.bench=baseline"}
        for ctr in host.client.containers.list(all=True, filters=filters):
            attempt(ctr.name, functools.partial(ctr.remove, force=True))
        for st in dc.list_labeled(labels.ROLE):
            if st.labels.get(labels.ROOT) == str(host.root):
                remove = functools.partial(
                    container_lifecycle.remove, host.cfg, st.name, purge=True, force=True
                )
                attempt(st.name, remove)

    attempt("containers", containers)
    attempt("service", lambda: daemon_control.stop(host.cfg))
    attempt("account", lambda: problems.extend(host.user.close()))
    attempt("lab", host.bench.down)
    attempt("store mount", functools.partial(unmount_store, host.root))
    shutil.rmtree(host.shared, ignore_errors=True)
    if not keep:
        from devbox.adapters.host import mounts

        attempt("workdir", functools.partial(mounts.remove_tree, host.workdir))
    return problems


def unmount_store(root: Path) -> None:
    """The root's nosuid,nodev store mount (the service makes it and leaves it, as a host
    keeps it until reboot) goes with the bench's root."""
    from devbox.adapters.host import mounts
    from devbox.paths import Layout

    for _ in range(4):  # bounded: stacked twice at most by a crashed run
        if not mounts.unmount(Layout(root).containers):
            break


@dataclass
class Row:
    label: str
    short: str
    times: list[float] = field(default_factory=list)
    boot: list[float] = field(default_factory=list)
    steps: dict[str, list[float]] = field(default_factory=dict)
    parts: dict[str, list[float]] = field(default_factory=dict)  # timeline(), per run

    def add(
        self,
        seconds: float,
        steps: dict[str, float] | None = None,
        parts: dict[str, float] | None = None,
    ) -> None:
        self.times.append(seconds)
        for part, value in (parts or {}).items():
            self.parts.setdefault(part, []).append(value)
        if steps is not None:
            self.boot.append(sum(v for k, v in steps.items() if k in BOOT_STEPS))
            for step, value in steps.items():
                self.steps.setdefault(step, []).append(value)

    def median(self) -> float:
        return statistics.median(self.times)

    def spread(self) -> str:
        return f"{min(self.times):.2f}-{max(self.times):.2f}"


def root_once(host: Host, name: str) -> tuple[float, dict[str, float], dict[str, float]]:
    argv = devbox_argv(["dockeruser", "make-dev-container", name, *MAKE_ARGS])
    launched, t0 = time.time(), time.perf_counter()
    result = subprocess.run(
        argv, env=host.env, capture_output=True, text=True, timeout=300, check=False
    )
    seconds = time.perf_counter() - t0
    if result.returncode != 0:
        raise RuntimeError(f"root's devbox make failed: {result.stderr}")
    steps = host.last_steps(name)
    # root's make through the service has an audit record; in root's own process, none
    parts = host.timeline(name, launched, launched + seconds) if host.audited(name) else {}
    subprocess.run(
        devbox_argv(["dockeruser", "remove-dev-container", name, "--yes", "--purge"]),
        env=host.env,
        capture_output=True,
        timeout=120,
        check=True,
    )
    return seconds, steps, parts


def user_once(host: Host, name: str) -> tuple[float, dict[str, float], dict[str, float]]:
    """The user's make through the service, timed from their client's start to its end; then
    sshd must answer on the address it printed and the user's own ``ssh NAME`` must log in."""
    user = host.user
    args = ["dockeruser", "make-dev-container", name, *MAKE_ARGS]
    launched, t0 = time.time(), time.perf_counter()
    result = user.devbox(args)
    seconds = time.perf_counter() - t0
    parts = host.timeline(name, launched, launched + seconds)
    if result.returncode != 0:
        raise RuntimeError(f"the user's devbox make failed: {result.stderr}")
    found = IP_RE.search(result.stdout)
    if not found or not ssh_banner(found.group(1)):
        raise RuntimeError(f"no sshd answers after the user's make: {result.stdout}")
    ssh = user.run_as(["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", name, "true"])
    if ssh.returncode != 0:
        raise RuntimeError(f"the user's ssh {name} failed: {ssh.stderr.strip()}")
    steps = host.last_steps(name)
    gone = user.devbox(["dockeruser", "remove-dev-container", name, "--yes", "--purge"])
    if gone.returncode != 0:
        raise RuntimeError(f"the user's remove failed: {gone.stderr}")
    return seconds, steps, parts


def import_profile(host: Host, args: list[str], top: int = 12) -> None:
    """Where the user's client spends its start-up: ``devbox ARGS`` once more with
    ``-X importtime`` (not in the figures), its slowest top-level imports (cumulative)."""
    t0 = time.perf_counter()
    done = host.user.devbox(args, python=("-X", "importtime"))
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"the user's devbox {' '.join(args)} failed: {done.stderr}")
    rows = []
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            _, cumulative, module = line[12:].split("|")
            if cumulative.strip().isdigit():
                rows.append((int(cumulative), module[1:]))
    # top level: a module name not indented in importtime's tree
    tops = [(us, mod) for us, mod in rows if not mod.startswith(" ")]
    total = sum(us for us, _ in tops) / 1e6
    print(f"\nuser's devbox {args[1]} with -X importtime: {seconds:.2f} s, imports {total:.3f} s:")
    for us, mod in sorted(tops, reverse=True)[:top]:
        print(f"  {us / 1e3:7.1f} ms  {mod}")


def report(reps: int, base: Row, rows: list[Row]) -> None:
    b = base.median()
    print(f"\nmake-dev-container to SSH-ready, {reps} reps (medians; spread = min-max of runs)")
    print(f"  {base.label:<58} {b:5.2f} s  spread {base.spread()}")
    for row in rows:
        d = row.median()
        print(f"  {row.label:<58} {d:5.2f} s  spread {row.spread()}   ratio {d / b:.2f}")
        for part, values in row.parts.items():
            print(f"  {'    ' + part:<58} {statistics.median(values):5.2f} s")
        if row.boot:
            boot = statistics.median(row.boot)
            part = "    boot-to-SSH part (container + LAN + sshd)"
            print(f"  {part:<58} {boot:5.2f} s   ratio {boot / b:.2f}")
    for row in rows:
        print(
            f"  steps, {row.short} (medians): "
            + ", ".join(f"{s} {statistics.median(t):.2f}" for s, t in row.steps.items())
        )
    print(
        "  raw: " + "; ".join(f"{r.short} {[round(x, 2) for x in r.times]}" for r in [base, *rows])
    )
    print(f"  load at the end: {os.getloadavg()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--keep-logs", action="store_true", help="keep the bench's root")
    parser.add_argument("--group", default="", help=GROUP_HELP)
    parser.add_argument(
        "--importtime", action="store_true", help="also profile the user's client's imports"
    )
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("needs root", file=sys.stderr)
        return 2
    with bench_host("dbxbm", args.keep_logs, args.group) as host:
        print(f"load at the start: {os.getloadavg()}", flush=True)
        tag = host.tag
        base = Row("baseline (docker run + pipework/udhcpc + port-22 loop)", "baseline")
        as_root = Row("devbox as root, whole command (new process, all 9 steps)", "root")
        as_user = Row("devbox through the service as a user (client start to end)", "user")
        # one warm-up each (teaches dnsmasq the names, warms the page cache)
        baseline_once(host.client, host.bench, host.image, f"dbxbm{tag}b", host.script)
        root_once(host, f"dbxbm{tag}d")
        user_once(host, f"dbxbm{tag}u")
        for _ in range(args.reps):
            base.add(
                baseline_once(host.client, host.bench, host.image, f"dbxbm{tag}b", host.script)
            )
            as_root.add(*root_once(host, f"dbxbm{tag}d"))
            as_user.add(*user_once(host, f"dbxbm{tag}u"))
        report(args.reps, base, [as_root, as_user])
        if args.importtime:
            name = f"dbxbm{tag}u"
            import_profile(host, ["dockeruser", "make-dev-container", name, *MAKE_ARGS])
            host.user.devbox(["dockeruser", "remove-dev-container", name, "--yes", "--purge"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
