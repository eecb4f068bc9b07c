"""Hostile tenant, cgroups and limits: root inside one dev container (the ``dev`` user with
sudo) must not see, freeze, limit or join a neighbour's cgroups, nor loosen its own limits,
and a fork bomb or a memory hog inside it stops at its limits while the host and a neighbour
stay responsive.

Every attack runs from inside a real dev container made by ``make-dev-container``, as ``dev``
through ``sudo``; every check of its effect is made from the host.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RUN_ID
from tests.fixtures.devcontainers import DevEnv
from tests.integration.test_dev_containers import cli, make

pytestmark = pytest.mark.integration

CG = Path("/sys/fs/cgroup")


def as_dev(engine: Any, name: str, script: str, timeout: int = 60) -> tuple[int, str]:
    """Run ``script`` as the container's dev user, with sudo where it says so. Bounded from
    the host too: a process frozen by an attack cannot be stopped by its own time-out."""
    ctr = engine.containers.get(name)
    done: list[tuple[int, bytes]] = []
    worker = threading.Thread(
        target=lambda: done.append(
            ctr.exec_run(["timeout", str(timeout), "sh", "-c", script], user="dev")
        ),
        daemon=True,
    )
    worker.start()
    worker.join(timeout + 30)
    assert done, f"exec in {name} did not return within {timeout + 30}s (frozen?)"
    code, out = done[0]
    return code, out.decode(errors="replace")


def host_cgroup(controller: str, ctr_id: str) -> Path:
    """The host path of a container's own cgroup in ``controller`` (found from the host)."""
    hits = [p for p in (CG / controller).rglob(ctr_id) if p.is_dir()]
    assert hits, f"no {controller} cgroup for {ctr_id}"
    return hits[0]


def responsive(engine: Any, name: str, bound: float = 30.0) -> bool:
    """The host can still start a process, and ``name`` still answers an exec, in bound."""
    subprocess.run(["true"], check=True, timeout=bound)
    code, _ = as_dev(engine, name, "true", timeout=int(bound))
    return code == 0


def test_a_container_cannot_reach_a_neighbours_cgroups(devenv: DevEnv, engine: Any) -> None:
    a, b = devenv.name("cga"), devenv.name("cgb")
    make(devenv, a, "--memory", "512m")
    make(devenv, b, "--memory", "512m")
    id_a, id_b = engine.containers.get(a).id, engine.containers.get(b).id
    limit_before = (host_cgroup("memory", id_a) / "memory.limit_in_bytes").read_text()

    # what the tenant can see: nothing of the neighbour (nor of anyone else)
    _code, out = as_dev(
        engine,
        a,
        f"sudo grep -rl {id_b[:12]} /sys/fs/cgroup /proc/self/cgroup "
        f"2>/dev/null; sudo find /sys/fs/cgroup -name '*{id_b[:12]}*' "
        "2>/dev/null; echo END",
    )
    assert out.strip() == "END", out
    # freeze every freezer.state it can find, and the neighbour's by its host path too
    attack = (
        "for f in $(sudo find /sys/fs/cgroup -name freezer.state 2>/dev/null); do "
        "echo FROZEN | sudo tee $f >/dev/null 2>&1; done; "
        f"for p in docker/{id_b} devbox/{b}/{id_b}; do "
        f"echo FROZEN | sudo tee /sys/fs/cgroup/freezer/$p/freezer.state >/dev/null 2>&1; "
        # join the neighbour's cgroups, raise the neighbour's and its own limits
        f"echo $$ | sudo tee /sys/fs/cgroup/memory/$p/cgroup.procs >/dev/null 2>&1; "
        f"echo 1 | sudo tee /sys/fs/cgroup/memory/$p/memory.limit_in_bytes >/dev/null 2>&1; "
        "done; "
        "echo -1 | sudo tee /sys/fs/cgroup/memory/memory.limit_in_bytes >/dev/null 2>&1; "
        # leave its own cgroups for the parent's
        "echo $$ | sudo tee /sys/fs/cgroup/memory/../cgroup.procs >/dev/null 2>&1; "
        "echo done"
    )
    _code, out = as_dev(engine, a, attack)
    assert "done" in out, out

    for path in (CG / "freezer").rglob("freezer.state"):
        if id_b in str(path) or id_a in str(path):
            assert path.read_text().strip() == "THAWED", path
    assert responsive(engine, b)
    mem_b = host_cgroup("memory", id_b)
    assert int((mem_b / "memory.limit_in_bytes").read_text()) == 512 << 20
    assert (host_cgroup("memory", id_a) / "memory.limit_in_bytes").read_text() == limit_before
    # every process of A is still in A's own cgroups
    for pid in (host_cgroup("memory", id_a) / "cgroup.procs").read_text().split():
        text = Path(f"/proc/{pid}/cgroup").read_text()
        for line in text.splitlines():
            _, ctrl, path = line.split(":", 2)
            if ctrl in ("memory", "pids", "cpu,cpuacct", "cpu", "freezer"):
                assert id_a in path, (pid, line)
    # systemd still runs as PID 1 with its units in its own subtree
    _code, out = as_dev(engine, a, "systemctl is-system-running || true")
    assert out.strip() in {"running", "degraded"}, out


def test_limits_are_set_seen_and_listed(devenv: DevEnv, engine: Any) -> None:
    name = devenv.name("lim")
    make(devenv, name, "--memory", "512m", "--cpus", "1", "--pids", "300")
    host = engine.api.inspect_container(name)["HostConfig"]
    assert host["Memory"] == 512 << 20
    assert host["MemorySwap"] == 512 << 20  # no swap on top
    assert host["NanoCpus"] == 1_000_000_000
    assert host["PidsLimit"] == 300
    _code, out = as_dev(
        engine, name, "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max"
    )
    assert out.split() == [str(512 << 20), "300"], out
    listed = json.loads(cli(devenv, "list-containers", "--json", "--no-size").stdout)
    row = next(r for r in listed if r["name"] == name)
    assert row["limits"] == {"memory": 512 << 20, "cpus": 1.0, "pids": 300}


def test_a_fork_bomb_and_a_memory_hog_stop_at_the_limits(devenv: DevEnv, engine: Any) -> None:
    hog, neighbour = devenv.name("hog"), devenv.name("nbr")
    make(devenv, hog, "--memory", "256m", "--pids", "200", "--cpus", "1")
    make(devenv, neighbour, "--memory", "256m")
    pids_cg = host_cgroup("pids", engine.containers.get(hog).id)
    mem_cg = host_cgroup("memory", engine.containers.get(hog).id)

    # a memory hog: tail keeps a line with no end in memory, 1 GiB of it
    _code, out = as_dev(
        engine,
        hog,
        "sudo sh -c 'head -c 1024m /dev/zero | tail > /dev/null'; echo rc=$?",
        timeout=120,
    )
    assert "rc=0" not in out, out  # killed at the limit, not finished
    assert int((mem_cg / "memory.max_usage_in_bytes").read_text()) <= (256 << 20) + (1 << 20)
    oom = dict(line.split() for line in (mem_cg / "memory.oom_control").read_text().splitlines())
    assert int(oom["oom_kill"]) > 0  # the kernel's OOM killer acted inside the container
    assert responsive(engine, neighbour)

    # a fork bomb, left running for a while (bounded by timeout inside the container)
    ctr = engine.containers.get(hog)
    ctr.exec_run(
        ["timeout", "20", "sudo", "-u", "dev", "sh", "-c", "f() { f | f & }; f"], detach=True
    )
    deadline = time.monotonic() + 30
    peak = 0
    while time.monotonic() < deadline:
        peak = max(peak, int((pids_cg / "pids.current").read_text()))
        if int((pids_cg / "pids.events").read_text().split()[1]) > 0:  # "max N": refused forks
            break
        time.sleep(0.2)
    assert int((pids_cg / "pids.events").read_text().split()[1]) > 0, "the bomb never hit max"
    assert peak <= 200
    # the host is fine: it can start processes and the neighbour answers
    assert responsive(engine, neighbour)


def test_bad_limits_are_refused_before_anything_is_made(devenv: DevEnv, engine: Any) -> None:
    name = devenv.name("bad")
    for flags, words in (
        (["--memory", "lots"], "invalid memory"),
        (["--memory", "100000g"], "more than this host can give"),
        (["--cpus", "-1"], "invalid cpus"),
        (["--pids", "5"], "too small"),
    ):
        result = cli(devenv, "make-dev-container", name, "--branch", "main", *flags)
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith("error: ") and words in result.stderr, result.stderr
        assert "hint: " in result.stderr
        assert engine.api.containers(all=True, filters={"name": f"^/{name}$"}) == []


def test_a_setuid_shell_in_opt_is_no_way_up_on_the_host(devenv: DevEnv, engine: Any) -> None:
    """The tenant plants a root-owned set-uid shell and a world-writable disk device node in
    its /opt; an ordinary host user (a real account made here) must get neither. The test
    opens the directories above the devbox root to that user, so only devbox's own
    protection (folder modes, nosuid/nodev) stands in the way."""
    name = devenv.name("suid")
    make(devenv, name)
    _code, out = as_dev(
        engine,
        name,
        "sudo cp /bin/bash /opt/rootsh && sudo chmod 4755 "
        "/opt/rootsh && sudo mknod -m 666 /opt/disk b 254 0; "
        "ls -l /opt/rootsh /opt/disk",
    )
    assert "rwsr-xr-x" in out and "brw-rw-rw-" in out, out
    _code, out = as_dev(engine, name, "grep ' /opt ' /proc/self/mountinfo")
    assert {"nosuid", "nodev"} <= set(out.split()[5].split(",")), out
    opt = Path(engine.api.inspect_container(name)["Config"]["Labels"]["devbox.opt"])
    user = f"dbxt{RUN_ID}u"
    opened: list[tuple[Path, int]] = []
    subprocess.run(["useradd", "-M", "-s", "/bin/sh", user], check=True, capture_output=True)
    try:
        top = devenv.root
        for path in [top, *top.parents]:
            if path == Path("/"):
                break
            mode = path.stat().st_mode & 0o7777
            if not mode & 0o001:
                opened.append((path, mode))
                path.chmod(mode | 0o001)
        ran = subprocess.run(
            ["runuser", "-u", user, "--", str(opt / "rootsh"), "-p", "-c", "id -u"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert ran.stdout.strip() != "0", "an ordinary host user became root through /opt"
        read = subprocess.run(
            ["runuser", "-u", user, "--", "head", "-c", "1", str(opt / "disk")],
            capture_output=True,
            timeout=30,
            check=False,
        )
        assert read.returncode != 0 and read.stdout == b""
    finally:
        for path, mode in opened:
            path.chmod(mode)
        subprocess.run(["userdel", user], capture_output=True, check=False)


def test_doctor_reports_promised_limits_and_old_cgroup_mounts(
    devenv: DevEnv, engine: Any, busybox_image: str
) -> None:
    name = devenv.name("doc")
    make(devenv, name, "--memory", "1g", "--cpus", "1")

    def checks() -> dict[str, Any]:
        out = cli(devenv, "common", "doctor", "--json").stdout
        return {c["name"]: c for c in json.loads(out)["checks"]}

    got = checks()
    assert "promised 1.0 GiB of" in got["promised to containers"]["detail"]
    assert got["cgroup isolation"]["ok"] is True
    # a container as an older devbox made them: the host's whole cgroupfs bound writable
    old = engine.containers.create(
        busybox_image,
        ["sleep", "60"],
        name=devenv.name("old"),
        labels={
            "devbox.role": "dockeruser",
            "devbox.root": str(devenv.root),
            "devbox.test-run": RUN_ID,
        },
        volumes={"/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "rw"}},
        network_mode="none",
    )
    try:
        got = checks()["cgroup isolation"]
        assert got["ok"] is False and old.name in got["detail"] and "clone" in got["fix"]
    finally:
        old.remove(force=True)
