"""make-dev-container and friends on the lab LAN, against the real engine, dev image, dnsmasq
and sshd (issue 5)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from devbox.paths import Layout
from tests.cli import REPO, devbox_argv, run_devbox
from tests.conftest import RUN_ID
from tests.fixtures.devcontainers import MAKE_STEPS, DevEnv
from tests.fixtures.engine import TEST_LABEL
from tests.refusals import assert_refused
from tests.waits import wait_for

pytestmark = pytest.mark.integration


def cli(
    dev: DevEnv, *args: str, timeout: float = 300, **extra: str
) -> subprocess.CompletedProcess[str]:
    return run_devbox(args, {**os.environ, **dev.env, **extra}, timeout=timeout)


def try_make(dev: DevEnv, name: str, *extra: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``dockeruser make-dev-container NAME --branch main EXTRA`` (``env``: more variables)."""
    return cli(dev, "dockeruser", "make-dev-container", name, "--branch", "main", *extra, **env)


def make(dev: DevEnv, name: str, *extra: str) -> dict[str, Any]:
    result = try_make(dev, name, "--json", *extra)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def ssh_client(dev: DevEnv, host: str, sock: Any = None) -> Any:
    from devbox.adapters import ssh

    root = dev.root
    return ssh.connect(
        host, "dev", root / "ssh" / "id_ed25519", root / "ssh" / "known_hosts", sock=sock
    )


def run(client: Any, command: str) -> tuple[int, str]:
    from devbox.adapters import ssh

    res = ssh.run(client, command, timeout=60)
    return res.exit_code, res.stdout.strip()


def test_make_dev_container_end_to_end(devenv: DevEnv, engine: Any) -> None:
    name = devenv.name("mk")
    summary = make(devenv, name)
    ip = summary["ip"]
    assert ip.startswith(devenv.lab.prefix)
    ctr = engine.containers.get(name)
    assert ctr.attrs["HostConfig"]["Privileged"] is False
    assert ctr.labels["devbox.branch"] == "main"
    assert ctr.labels[TEST_LABEL] == RUN_ID

    # SSH from the host to the DHCP address, as dev, host key checked (never auto-added)
    client = ssh_client(devenv, ip)
    try:
        code, out = run(client, "systemctl is-system-running --wait")
        assert out in {"running", "degraded"}, out
        assert run(client, "id -un")[1] == "dev"
        assert run(client, "hostname")[1] == name
        # the container's own /etc/hosts and /etc/resolv.conf (the engine leaves them to it)
        assert run(client, f"getent hosts {name}")[1].split()[0] == "127.0.1.1"
        resolv = run(client, "cat /etc/resolv.conf")[1]
        assert "nameserver 127." not in resolv and "nameserver ::1" not in resolv
        # the lease's name server (the lab's dnsmasq) and domain: never an empty file
        assert f"nameserver {devenv.lab.prefix}1" in resolv.splitlines(), resolv
        assert "search lab" in resolv.splitlines(), resolv
        assert run(client, "cat /sys/class/net/lo/operstate")[1] in {"unknown", "up"}
        # /opt is the host's tree: the seed, the license and the checkout are there
        assert run(client, "cat /opt/src/README")[1] == "devbox test repository"
        assert "branch=main" in run(client, "cat /opt/product/license/license.lic")[1]
        code, _ = run(client, "echo written-in-container > /opt/from-container.txt")
        assert code == 0
    finally:
        client.close()
    opt = Path(summary["opt_dir"])
    assert (opt / "from-container.txt").read_text() == "written-in-container\n"

    # from a host in the lab namespace (another machine on the LAN)
    from devbox.adapters.net import netns

    sock = netns.run_in(
        netns.named_path(devenv.lab.name),
        lambda: __import__("socket").create_connection((ip, 22), timeout=5),
    )
    client = ssh_client(devenv, ip, sock=sock)
    try:
        assert run(client, "hostname")[1] == name
    finally:
        client.close()

    # every step in the log, with its duration
    log = Path(summary["log"]).read_text()
    for step in MAKE_STEPS:
        assert f"[{step}] done in" in log, step

    listed = cli(devenv, "dockeruser", "list-containers", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {r["name"]: r for r in json.loads(listed.stdout)}
    assert rows[name]["ip"] == ip and rows[name]["state"] == "running"
    assert rows[name]["mac"] == summary["mac"]

    # the SSH config entry lets plain `ssh NAME` work
    entry = (devenv.home / ".ssh" / "config.d" / "devbox").read_text()
    assert f"Host {name}" in entry and f"HostName {ip}" in entry
    ssh_run = cli(devenv, "dockeruser", "ssh", name, "--", "cat", "/opt/src/README")
    assert ssh_run.returncode == 0, ssh_run.stderr
    assert "devbox test repository" in ssh_run.stdout
    failing = cli(devenv, "dockeruser", "ssh", name, "--", "false")
    assert failing.returncode == 1
    ex = cli(devenv, "dockeruser", "exec", name, "--", "cat", "/etc/hostname")
    assert ex.returncode == 0 and name in ex.stdout


def test_stop_start_same_ip_and_remove_keeps_opt(devenv: DevEnv, engine: Any) -> None:
    name = devenv.name("ss")
    summary = make(devenv, name, "--no-checkout")
    stop = cli(devenv, "dockeruser", "stop", name)
    assert stop.returncode == 0, stop.stderr
    assert engine.containers.get(name).status == "exited"
    start = cli(devenv, "dockeruser", "start-dev-container", name, "--json")
    assert start.returncode == 0, start.stderr
    assert json.loads(start.stdout)["ip"] == summary["ip"]
    client = ssh_client(devenv, summary["ip"])
    client.close()

    opt = Path(summary["opt_dir"])
    (opt / "keep-me").write_text("user data")
    removed = cli(devenv, "dockeruser", "remove-dev-container", name, "--yes")
    assert removed.returncode == 0, removed.stderr
    assert not engine.containers.list(all=True, filters={"name": f"^{name}$"})
    assert (opt / "keep-me").read_text() == "user data"
    assert f"Host {name}" not in (devenv.home / ".ssh" / "config.d" / "devbox").read_text()
    # lease released: not in dnsmasq's lease file any more
    from devbox.services import lab as labsvc

    leases = labsvc.status(devenv.cfg()).leases
    assert summary["mac"] not in {lease.mac for lease in leases}

    # make again on the kept /opt: the data is still there; then --purge deletes it
    make(devenv, name, "--no-checkout")
    assert (opt / "keep-me").read_text() == "user data"
    purged = cli(devenv, "dockeruser", "remove-dev-container", name, "--yes", "--purge")
    assert purged.returncode == 0, purged.stderr
    assert not opt.exists()


@pytest.mark.parametrize(
    ("name", "branch"),
    [
        ("Alice", "main"),
        ("a b", "main"),
        ("x;rm -rf /", "main"),
        ("a" * 70, "main"),
        (None, "$(id)"),
        (None, "no-such-branch"),
    ],
)
def test_bad_names_and_branches_rejected_before_anything(
    devenv: DevEnv, engine: Any, name: str | None, branch: str
) -> None:
    name = name or devenv.name("bad")
    result = cli(devenv, "dockeruser", "make-dev-container", name, "--branch", branch)
    assert_refused(result, 2, "")  # one error line, a hint, devbox's own (not a usage error)
    assert not engine.containers.list(all=True, filters={"name": f"^{name}$"})
    assert not engine.containers.list(
        all=True, filters={"label": f"{TEST_LABEL}={RUN_ID}", "status": "created"}
    )
    assert not Layout(devenv.root).container_dir(name).exists()


def _no_trace(dev: DevEnv, engine: Any, name: str) -> None:
    from devbox.services import nic

    assert not engine.containers.list(all=True, filters={"name": f"^{name}$"})
    assert not [r for r in nic.store(dev.cfg()).all() if r.container == name]
    assert not Layout(dev.root).opt_dir(name).exists()


def test_missing_image_is_clear_and_leaves_nothing(devenv: DevEnv, engine: Any) -> None:
    name = devenv.name("noimg")
    result = try_make(devenv, name, "--image", f"devbox/none-{RUN_ID}:1")
    assert_refused(result, 2, f"image devbox/none-{RUN_ID}:1")
    _no_trace(devenv, engine, name)


def test_registry_down_is_clear_and_leaves_nothing(devenv: DevEnv, engine: Any) -> None:
    name = devenv.name("noreg")
    result = try_make(
        devenv, name, "--image", f"devbox/none-{RUN_ID}:1", DEVBOX_REGISTRY_ADDRESS="127.0.0.1:1"
    )
    assert_refused(result, 4, "127.0.0.1:1")
    _no_trace(devenv, engine, name)


def test_no_room_for_another_systemd_is_refused_and_leaves_nothing(
    devenv: DevEnv, engine: Any
) -> None:
    """A host whose inotify instances (root's, capped per user) are all but used up cannot
    boot another systemd: the make is refused with the fix and rolled back (the count runs
    beside the first steps; it is checked before the container starts)."""
    import ctypes
    import resource

    from devbox.adapters.host import procfs
    from devbox.model import capacity

    name = devenv.name("noroom")
    libc = ctypes.CDLL(None, use_errno=True)
    held: list[int] = []
    try:
        room = procfs.inotify_room()
        spare = max(0, room.limit - room.used - 2)  # fewer than one container's left
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < spare + 256:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(spare + 256, hard), hard))
        for _ in range(spare):
            fd = libc.inotify_init1(os.O_CLOEXEC)
            assert fd >= 0, f"inotify_init1: {os.strerror(ctypes.get_errno())}"
            held.append(fd)
        result = try_make(devenv, name, "--no-checkout")
    finally:
        for fd in held:
            os.close(fd)
    assert_refused(result, 3, "fs.inotify.max_user_instances", capacity.FIX)
    _no_trace(devenv, engine, name)


def test_no_dhcp_answer_is_clear_and_leaves_nothing(devenv: DevEnv, engine: Any) -> None:
    """A lab whose DHCP server is down: the make fails within the timeout, rolled back."""
    from devbox.services import lab as labsvc
    from tests.fixtures.lab import lab_settings

    dead = lab_settings("d", devenv.root.parent / f"dead{RUN_ID}")
    dead_cfg = dead.cfg()
    labsvc.up(dead_cfg)
    try:
        pid = labsvc.status(dead_cfg).dnsmasq_pid
        assert pid
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: not labsvc.status(dead_cfg).dnsmasq_alive, 10, "dnsmasq to stop")
        name = devenv.name("nodhcp")
        result = try_make(
            devenv, name, "--no-checkout", "--parent", dead.uplink, DEVBOX_DHCP_TIMEOUT="3"
        )
        assert result.returncode == 4, result.stderr
        assert "DHCP" in result.stderr
        _no_trace(devenv, engine, name)
    finally:
        labsvc.down(dead_cfg)


def test_killed_make_then_rerun_converges(devenv: DevEnv, engine: Any) -> None:
    name = devenv.name("kill")
    env = {**os.environ, **devenv.env}
    log = devenv.root / "logs" / f"{name}.log"
    proc = subprocess.Popen(
        devbox_argv(
            ["dockeruser", "make-dev-container", name, "--branch", "main", "--no-checkout"]
        ),
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if log.exists() and "[wait for sshd] start" in log.read_text():
                break
            assert proc.poll() is None, "make finished before step 5"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(30)
    summary = make(devenv, name, "--no-checkout")
    assert len(engine.containers.list(all=True, filters={"name": f"^{name}$"})) == 1
    from devbox.services import network

    atts = network.show(devenv.cfg(), name)
    assert len(atts) == 1 and atts[0].ip == summary["ip"]
    client = ssh_client(devenv, summary["ip"])
    client.close()


def test_parallel_makes_distinct_ips_and_macs(devenv: DevEnv) -> None:
    names = [devenv.name(f"p{i}") for i in range(5)]
    results: dict[str, subprocess.CompletedProcess[str]] = {}

    def one(n: str) -> None:
        results[n] = try_make(devenv, n, "--no-checkout", "--json")

    threads = [threading.Thread(target=one, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    summaries = []
    for n in names:
        assert results[n].returncode == 0, results[n].stderr
        summaries.append(json.loads(results[n].stdout))
    assert len({s["ip"] for s in summaries}) == 5
    assert len({s["mac"] for s in summaries}) == 5


def test_same_name_twice_at_once_second_fails_clearly(devenv: DevEnv) -> None:
    from devbox.locks import name_lock

    name = devenv.name("lock")
    with name_lock(devenv.root / "run" / "locks", name):
        result = try_make(devenv, name)
    assert_refused(result, 2, "already")
    assert not Layout(devenv.root).container_dir(name).exists()


def test_make_os_container_logs_in_as_root(devenv: DevEnv, os_image: str, engine: Any) -> None:
    name = devenv.name("os")
    result = cli(devenv, "dockeruser", "make-os-container", name, "--os", "debian-12", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert engine.containers.get(name).labels["devbox.kind"] == "os"
    from devbox.adapters import ssh

    client = ssh.connect(
        summary["ip"],
        "root",
        devenv.root / "ssh" / "id_ed25519",
        devenv.root / "ssh" / "known_hosts",
    )
    try:
        assert run(client, "whoami")[1] == "root"
        assert run(client, "hostname")[1] == name
        assert "bookworm" in run(client, "cat /etc/os-release")[1]
    finally:
        client.close()
    via_cli = cli(devenv, "dockeruser", "ssh", name, "--", "whoami")
    assert via_cli.returncode == 0 and via_cli.stdout.strip() == "root"
