"""devbox dockeruser clone / run-on / remove --clones-of on the lab LAN, with the real dev image.

One dev container (SRC) with a 200 MB file in /opt is cloned 5 times; the clones must be
distinct machines (IP, MAC, machine-id, SSH host keys, hostname), reach each other over the
LAN, see SRC's /opt through an overlay that keeps their writes to themselves, and cost only what
they write. Removing them leaves no mount, interface, lease or snapshot behind.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devbox.adapters.docker import containers as dc
from devbox.adapters.docker import snapshots
from devbox.adapters.host import diskusage, mounts
from devbox.model import labels
from devbox.paths import Layout
from tests.cli import run_cli
from tests.conftest import RUN_ID
from tests.faults.leaks import sha256
from tests.fixtures.devcontainers import remove_clones_and_source
from tests.fixtures.engine import TEST_LABEL
from tests.fixtures.lab import LabEnv

pytestmark = [pytest.mark.integration, pytest.mark.slow]


MB = 1024 * 1024
COUNT = 5


@dataclass
class Cloned:
    cfg: Any
    env: dict[str, str]
    src: str
    run: Any
    big_sha: str

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.run.clones]

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``devbox ARGS`` as a user runs it, in this module's environment."""
        return run_cli(self.env, *args, timeout=900)


def _env(lab: LabEnv) -> dict[str, str]:
    return {**lab.full_env(labels=f"{TEST_LABEL}={RUN_ID}"), "HOME": str(lab.root / "home")}


def _cfg(lab: LabEnv) -> Any:
    from devbox import config

    return config.load(
        environ={
            **lab.env,
            "DEVBOX_LABELS": f"{TEST_LABEL}={RUN_ID}",
            "HOME": str(lab.root / "home"),
        },
        files=(),
    )


@pytest.fixture(scope="module")
def cloned(lab: LabEnv, dev_image: str) -> Iterator[Cloned]:
    from devbox.model.container_plan import MakeOptions
    from devbox.services import clone, container_make

    env = _env(lab)
    Path(env["HOME"]).mkdir(exist_ok=True)
    cfg = _cfg(lab)
    src = f"dbxt{RUN_ID}src"
    layout = Layout(cfg.root)
    try:
        container_make.make(
            cfg, MakeOptions(name=src, branch="main", image=dev_image, checkout=False)
        )
        big = layout.opt_dir(src) / "data" / "events.bin"
        big.parent.mkdir(parents=True, exist_ok=True)
        chunk = os.urandom(MB)
        with big.open("wb") as fh:
            for _ in range(200):
                fh.write(chunk)
        run = clone.clone(cfg, src, COUNT)
        yield Cloned(cfg, env, src, run, sha256(big))
    finally:
        remove_clones_and_source(cfg, src, images_label=f"{TEST_LABEL}={RUN_ID}")


def test_clones_are_distinct_machines(cloned: Cloned) -> None:
    run = cloned.run
    assert [c.ok for c in run.clones] == [True] * COUNT, [c.error for c in run.clones]
    assert len({c.ip for c in run.clones}) == COUNT
    assert len({c.mac for c in run.clones}) == COUNT
    ids, keys, hosts = set(), set(), set()
    for name in [cloned.src, *cloned.names]:
        code, out = dc.exec_run(name, ["cat", "/etc/machine-id"])
        assert code == 0 and len(out.strip()) == 32
        ids.add(out.strip())
        pub = dc.read_file(name, "/etc/ssh/ssh_host_ed25519_key.pub")
        assert pub
        keys.add(pub.split()[1])
        code, out = dc.exec_run(name, ["hostname"])
        hosts.add(out.strip().decode())
        code, out = dc.exec_run(name, ["getent", "hosts", name])  # its own /etc/hosts
        assert code == 0 and out.split()[0] == b"127.0.1.1", out
        # nothing of SRC's journal or logs: its journal directory went in the sysprep
        code, out = dc.exec_run(name, ["sh", "-c", "ls /var/log/journal; cat /etc/machine-id"])
        if name != cloned.src:
            journal_dirs, machine_id = out.split()[:-1], out.split()[-1]
            assert all(d == machine_id for d in journal_dirs), out
    assert len(ids) == COUNT + 1, "machine-ids must differ from SRC's and each other's"
    assert len(keys) == COUNT + 1, "SSH host keys must differ"
    assert hosts == {cloned.src, *cloned.names}
    for name in cloned.names:
        st = dc.inspect(name)
        assert st is not None
        assert st.labels[labels.CLONE_OF] == cloned.src
        assert st.labels[labels.KIND] == "clone"
        assert st.labels[labels.SNAPSHOT] == run.snapshot


def test_clones_reach_each_other_over_the_lan(cloned: Cloned) -> None:
    from devbox.services import runon

    ips = [c.ip for c in cloned.run.clones]
    # ping (up to 3 tries: a fresh interface may still be settling) and sshd's port
    checks = "; ".join(
        f"{{ ping -c3 -i0.3 -W2 {ip} >/dev/null || echo no-ping {ip}; }}; "
        f"{{ timeout 3 bash -c '</dev/tcp/{ip}/22' || echo no-ssh {ip}; }}"
        for ip in ips
    )
    results = runon.run_on(
        cloned.cfg, [], checks + "; echo checked", clones_of=cloned.src, timeout=60
    )
    assert len(results) == COUNT
    for r in results:
        assert r.ok, (r.name, r.exit_code, r.stderr, r.error)
        assert r.stdout.split("\n")[0] == "checked", (r.name, r.stdout)


def test_opt_writes_stay_in_the_clone(cloned: Cloned) -> None:
    layout = Layout(cloned.cfg.root)
    first, *others = cloned.names
    code, out = dc.exec_run(
        first,
        [
            "sh",
            "-c",
            "echo mine > /opt/data/only-in-first && "
            "echo x >> /opt/data/events.bin && "
            "wc -c < /opt/data/events.bin",
        ],
    )
    assert code == 0, out
    assert int(out.strip()) == 200 * MB + 2
    assert not (layout.opt_dir(cloned.src) / "data" / "only-in-first").exists()
    assert sha256(layout.opt_dir(cloned.src) / "data" / "events.bin") == cloned.big_sha
    for other in others:
        code, out = dc.exec_run(other, ["sh", "-c", "ls /opt/data; wc -c < /opt/data/events.bin"])
        assert b"only-in-first" not in out
        assert out.split()[-1] == str(200 * MB).encode()
    code, out = dc.exec_run(cloned.src, ["ls", "/opt/data"])
    assert b"only-in-first" not in out


def test_extra_disk_is_what_clones_write(cloned: Cloned, engine: Any) -> None:
    from devbox.state import clone_records

    layout = Layout(cloned.cfg.root)
    # the snapshot is made once, not per clone
    snaps = [p for p in layout.snapshots.iterdir() if p.is_dir()]
    assert [p.name for p in snaps] == [cloned.run.snapshot]
    snapshot_bytes = diskusage.disk_usage(clone_records.snapshot_dir(layout, cloned.run.snapshot))
    if cloned.run.snapshot_method == "copy":
        assert snapshot_bytes >= 200 * MB
    else:
        assert snapshot_bytes < 20 * MB
    uppers = sum(diskusage.disk_usage(layout.container_dir(n) / "opt-upper") for n in cloned.names)
    rw = {
        c["Names"][0].lstrip("/"): int(c.get("SizeRw") or 0)
        for c in engine.api.containers(
            all=True,
            size=True,  # type: ignore[attr-defined]
            filters={"label": f"{labels.CLONE_OF}={cloned.src}"},
        )
    }
    assert set(rw) == set(cloned.names)
    layer = snapshots.images_labelled(f"{labels.SNAPSHOT}={cloned.run.snapshot}")
    sysprep = max((int(i.get("Size", 0)) - int(_parent_size(engine, i)) for i in layer), default=0)
    per_clones = uppers + sum(rw.values()) + max(sysprep, 0)
    print(
        f"snapshot {snapshot_bytes / MB:.1f} MB ({cloned.run.snapshot_method}); "
        f"uppers {uppers / MB:.1f} MB; container layers {sum(rw.values()) / MB:.1f} MB; "
        f"sysprep layer {sysprep / MB:.1f} MB"
    )
    # 5 clones of a 200 MB /opt: well under one copy (one clone rewrote the 200 MB file)
    assert per_clones - 200 * MB < 50 * MB, per_clones


def _parent_size(engine: Any, image: dict[str, Any]) -> int:
    parent = engine.api.inspect_image(image["Id"]).get("Parent") or ""
    if not parent:
        return 0
    return int(engine.api.inspect_image(parent).get("Size", 0))


def test_run_on_cli(cloned: Cloned) -> None:
    result = cloned.cli(
        "dockeruser",
        "run-on",
        "--clones-of",
        cloned.src,
        "--json",
        "--",
        "hostname",
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert sorted(r["name"] for r in rows) == sorted(cloned.names)
    assert all(r["exit_code"] == 0 and r["stdout"].strip() == r["name"] for r in rows)
    failing = cloned.cli(
        "dockeruser",
        "run-on",
        "--clones-of",
        cloned.src,
        "--",
        f"test $(hostname) != {cloned.names[0]}",
    )
    assert failing.returncode == 4, failing.stderr
    assert cloned.names[0] in failing.stderr


def test_list_groups_clones_under_source(cloned: Cloned) -> None:
    result = cloned.cli("dockeruser", "list-containers", "--json", "--no-size")
    assert result.returncode == 0, result.stderr
    rows = [
        r
        for r in json.loads(result.stdout)
        if r["name"] == cloned.src or r["clone_of"] == cloned.src
    ]
    assert rows[0]["name"] == cloned.src
    assert sorted(r["name"] for r in rows[1:]) == sorted(cloned.names)


def test_restart_keeps_overlay_and_identity(cloned: Cloned) -> None:
    from devbox.services import clone_storage, container_lifecycle

    name = cloned.names[-1]
    before = dc.exec_run(name, ["cat", "/etc/machine-id"])[1]
    container_lifecycle.stop(cloned.cfg, name)
    layout = Layout(cloned.cfg.root)
    mounts.unmount(layout.opt_dir(name))  # as after a host reboot
    result = container_lifecycle.start(cloned.cfg, name)
    assert result.ip == cloned.run.clones[-1].ip
    assert mounts.is_mounted(layout.opt_dir(name))
    assert clone_storage.restore_mounts(cloned.cfg) == []
    _code, out = dc.exec_run(
        name, ["sh", "-c", "cat /etc/machine-id; wc -c < /opt/data/events.bin"]
    )
    assert out.split()[0] == before.strip()
    assert out.split()[1] == str(200 * MB).encode()


def test_more_clones_than_the_kernel_can_boot_are_refused(cloned: Cloned) -> None:
    """Each systemd container holds inotify instances (capped per user): asking for one clone
    more than this host's real room is refused with the fix, before anything is frozen or made.

    The count is computed from the host (room + 1), so the refusal runs on every host: on one
    so roomy that room + 1 is past ``--count``'s own range, this process holds inotify instances
    (closed at the end) until the room is one below that range's top."""
    import ctypes
    import resource

    from devbox.adapters.host import procfs
    from devbox.model import capacity, clone_plan

    layout = Layout(cloned.cfg.root)
    snaps_before = sorted(p.name for p in layout.snapshots.iterdir())
    held: list[int] = []
    try:
        room = procfs.inotify_room()
        # a few more than the room: instances freed elsewhere between this reading and the
        # CLI's (a container of an earlier test ending) must not turn the refusal into clones
        margin = 4
        if room.containers + 1 + margin > clone_plan.MAX_COUNT:
            spare = (
                room.limit
                - room.used
                - capacity.INSTANCES_PER_CONTAINER * (clone_plan.MAX_COUNT - 1 - margin)
            )
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            want = spare + 256
            if soft < want:
                resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
            libc = ctypes.CDLL(None, use_errno=True)
            for _ in range(spare):
                fd = libc.inotify_init1(os.O_CLOEXEC)
                assert fd >= 0, f"inotify_init1: {os.strerror(ctypes.get_errno())}"
                held.append(fd)
            room = procfs.inotify_room()
        wanted = room.containers + 1 + margin
        assert 1 < wanted <= clone_plan.MAX_COUNT, room
        result = cloned.cli("dockeruser", "clone", cloned.src, "--count", str(wanted))
    finally:
        for fd in held:
            os.close(fd)
    assert result.returncode == 3, result.stderr  # the host is not ready for that many
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert f"needs {wanted} more systemd container(s)" in errors[0]
    assert "fs.inotify.max_user_instances" in errors[0]
    assert f"hint: {capacity.FIX}" in result.stderr.splitlines(), result.stderr
    assert sorted(p.name for p in layout.snapshots.iterdir()) == snaps_before
    assert dc.inspect(f"{cloned.src}-c{COUNT + 1}") is None


def test_remove_clones_leaves_nothing(cloned: Cloned) -> None:
    from devbox.services import network

    result = cloned.cli("dockeruser", "remove-dev-container", "--clones-of", cloned.src, "--yes")
    assert result.returncode == 0, result.stderr
    layout = Layout(cloned.cfg.root)
    for name in cloned.names:
        assert dc.inspect(name) is None
        assert not layout.container_dir(name).exists()
    assert mounts.overlay_mounts_under(layout.root) == []
    assert [a.container for a in network.show(cloned.cfg) if a.container in cloned.names] == []
    assert not any(p.name.startswith(cloned.names[0]) for p in layout.leases.glob("*"))
    assert [p for p in layout.snapshots.iterdir()] == []
    assert snapshots.images_labelled(f"{labels.SNAPSHOT}={cloned.run.snapshot}") == []
    assert snapshots.image_id(f"devbox-snapshot:{cloned.run.snapshot}") is None
    # SRC is untouched
    st = dc.inspect(cloned.src)
    assert st is not None and st.running
    assert sha256(layout.opt_dir(cloned.src) / "data" / "events.bin") == cloned.big_sha
