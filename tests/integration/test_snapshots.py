"""``devbox dockeruser snapshot / snapshots / restore / snapshot-remove`` on a real dev
container on the lab LAN, through the CLI as root (the host service does the work): a
snapshot then changes in /opt and /etc (made as the tenant would, from inside), a restore
brings both back with the same name, MAC and IP; a restore cancelled half-way puts the
container back as it was; a link the tenant planted in /opt is copied as a link, never
followed onto the host; bad tags are exit 2 with nothing made; a non-owner is refused;
snapshot-remove and ``remove-dev-container --purge`` remove the images and the /opt copies."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.devcontainers import DevEnv
from tests.integration.test_dev_containers import cli, make
from tests.waits import wait_for

pytestmark = pytest.mark.integration


def sh(engine: Any, name: str, script: str, user: str = "dev") -> str:
    """Run ``script`` in the container as the tenant (``dev``; with sudo, root)."""
    res = engine.containers.get(name).exec_run(["sh", "-c", script], user=user)
    assert res.exit_code == 0, res.output
    return str(res.output.decode().strip())


def ok(devenv: DevEnv, *args: str) -> Any:
    result = cli(devenv, "dockeruser", *args, "--json", timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def row_of(devenv: DevEnv, name: str) -> dict[str, Any]:
    rows = ok(devenv, "list-containers", "--all")
    return next(r for r in rows if r["name"] == name)


def snapshot_images(engine: Any, name: str) -> list[Any]:
    return list(engine.images.list(filters={"label": f"devbox.snapshot-of={name}"}))


def snap_dir(devenv: DevEnv, name: str) -> Path:
    return devenv.root / "containers" / name / "snapshots"


def test_snapshot_change_restore_brings_opt_and_etc_back_same_ip(
    devenv: DevEnv, engine: Any
) -> None:
    name = devenv.name("sn")
    made = make(devenv, name)
    ip, mac = made["ip"], made["mac"]
    sh(engine, name, "echo before > /opt/snap-test.txt")
    sh(engine, name, "echo before | sudo tee /etc/snap-test.conf >/dev/null")
    # the tenant plants links to host files in its /opt: copied as links, never followed
    sh(engine, name, "ln -s /etc/shadow /opt/evil-file && ln -s /root /opt/evil-dir")
    old_id = engine.containers.get(name).id

    snap = ok(devenv, "snapshot", name, "--tag", "t1")
    assert snap["tag"] == "t1" and snap["method"] in {"reflink", "copy"}
    copy = snap_dir(devenv, name) / "t1" / "opt"
    assert (copy / "snap-test.txt").read_text() == "before\n"
    for link, target in (("evil-file", "/etc/shadow"), ("evil-dir", "/root")):
        assert (copy / link).is_symlink() and os.readlink(copy / link) == target
    assert engine.containers.get(name).status == "running"  # unpaused again
    again = cli(devenv, "dockeruser", "snapshot", name, "--tag", "t1")
    assert again.returncode == 2 and "has a snapshot 't1' already" in again.stderr, again.stderr
    assert len(snapshot_images(engine, name)) == 1

    sh(engine, name, "echo after > /opt/snap-test.txt; echo new > /opt/new.txt")
    sh(engine, name, "echo after | sudo tee /etc/snap-test.conf >/dev/null")

    listed = ok(devenv, "snapshots", name)
    (t1,) = [r for r in listed if r["tag"] == "t1"]
    assert t1["opt_bytes"] > 0 and t1["image_id"].startswith("sha256:")
    assert engine.images.get("devbox-snapshot/" + name + ":t1").id == t1["image_id"]

    restored = ok(devenv, "restore", name, "t1")
    assert restored["running"] and restored["kept"].startswith("before-restore-")
    assert (restored["ip"], restored["mac"]) == (ip, mac)
    assert sh(engine, name, "cat /opt/snap-test.txt") == "before"
    assert sh(engine, name, "cat /etc/snap-test.conf") == "before"
    assert sh(engine, name, "test -e /opt/new.txt || echo gone") == "gone"
    ctr = engine.containers.get(name)
    assert ctr.id != old_id  # made again from the snapshot, under the same name
    assert not engine.containers.list(all=True, filters={"name": f"{name}.restore-"})
    row = row_of(devenv, name)
    assert (row["ip"], row["mac"], row["state"]) == (ip, mac, "running")
    ifname = ctr.labels.get("devbox.net.ifname") or "eth0"
    assert sh(engine, name, f"cat /sys/class/net/{ifname}/address") == mac

    # what the restore replaced is kept as a snapshot: no user data is lost
    kept = restored["kept"]
    assert (snap_dir(devenv, name) / kept / "opt" / "new.txt").read_text() == "new\n"
    assert {r["tag"] for r in ok(devenv, "snapshots", name)} == {"t1", kept}

    removed = ok(devenv, "snapshot-remove", name, "t1")
    assert removed["removed"]
    assert not (snap_dir(devenv, name) / "t1").exists()
    assert "devbox-snapshot/" + name + ":t1" not in {
        t for img in engine.images.list() for t in img.tags
    }
    assert sh(engine, name, "cat /opt/snap-test.txt") == "before"  # its own /opt untouched
    assert {r["tag"] for r in ok(devenv, "snapshots", name)} == {kept}

    # --purge takes the rest: every snapshot image and /opt copy
    gone = cli(devenv, "dockeruser", "remove-dev-container", name, "--purge", "--yes")
    assert gone.returncode == 0, gone.stderr
    assert snapshot_images(engine, name) == []
    assert not (devenv.root / "containers" / name).exists()


def test_bad_tags_are_one_line_exit_2_with_nothing_made(devenv: DevEnv, engine: Any) -> None:
    name = devenv.name("sb")
    make(devenv, name)
    for argv in (
        ["snapshot", name, "--tag", "../escape"],
        ["snapshot", name, "--tag", "_running"],
        ["restore", name, "no/such"],
        ["restore", name, "nosuch"],
        ["snapshot-remove", name, "x y"],
    ):
        result = cli(devenv, "dockeruser", *argv, timeout=120)
        assert result.returncode == 2, (argv, result.stdout, result.stderr)
        assert result.stderr.startswith("error: "), result.stderr
        assert result.stderr.count("\n") <= 2, result.stderr  # the error and its hint
    assert snapshot_images(engine, name) == []
    assert not snap_dir(devenv, name).exists()
    assert engine.containers.get(name).status == "running"


def test_a_user_who_is_not_the_owner_is_refused(devenv: DevEnv, engine: Any) -> None:
    """The API's operations with a real caller who is not the owner, on a real container."""
    from devbox.api import snapshot_operations as snap
    from devbox.api.operations import Request
    from devbox.errors import UserError
    from devbox.model.owners import ROOT, Caller

    name = devenv.name("so")
    make(devenv, name)
    mallory = Caller(uid=4242, gid=4242, user="mallory")
    cfg = devenv.cfg()
    calls = (
        lambda req: snap.snapshot(req, name),
        lambda req: snap.list_snapshots(req, name),
        lambda req: snap.restore(req, name),
        lambda req: snap.remove_snapshot(req, name, "t1"),
    )
    for call in calls:
        req = Request(cfg, mallory, {"tag": "t1"}, lambda _event: None)
        with pytest.raises(UserError, match=f"container {name} belongs to root"):
            call(req)
    assert snapshot_images(engine, name) == []
    # the owner (here root) may: an admin lists them
    assert snap.list_snapshots(Request(cfg, ROOT, {}, lambda _event: None), name) == []


def test_a_restore_that_fails_half_way_puts_everything_back(devenv: DevEnv, engine: Any) -> None:
    """A snapshot that does not boot (the tenant moved sshd away before it): the restore's
    last step fails waiting for sshd, and the undo puts back the very container it replaced,
    its /opt and /etc as they were, running, with the same address."""
    name = devenv.name("sr")
    made = make(devenv, name)
    sh(engine, name, "echo before > /opt/snap-test.txt")
    sh(engine, name, "sudo mv /usr/sbin/sshd /usr/sbin/sshd.away")
    ok(devenv, "snapshot", name, "--tag", "nossh")
    sh(engine, name, "sudo mv /usr/sbin/sshd.away /usr/sbin/sshd")
    sh(engine, name, "echo after > /opt/snap-test.txt")
    sh(engine, name, "echo after | sudo tee /etc/snap-test.conf >/dev/null")
    old_id = engine.containers.get(name).id

    failed = cli(devenv, "dockeruser", "restore", name, "nossh", DEVBOX_SSH_TIMEOUT="8")
    assert failed.returncode == 4, failed.stderr
    assert "step 'start' failed" in failed.stderr, failed.stderr
    assert "undo: put the old" in failed.stderr, failed.stderr

    ctr = engine.containers.get(name)
    assert ctr.id == old_id and ctr.status == "running"  # the same container, started again
    assert sh(engine, name, "cat /opt/snap-test.txt") == "after"
    assert sh(engine, name, "cat /etc/snap-test.conf") == "after"
    assert sh(engine, name, "test -x /usr/sbin/sshd && echo ok") == "ok"
    assert not engine.containers.list(all=True, filters={"name": f"{name}.restore-"})
    assert {r["tag"] for r in ok(devenv, "snapshots", name)} == {"nossh"}  # no before-restore
    assert "devbox-snapshot/" + name + ":_running" not in {
        t for img in engine.images.list() for t in img.tags
    }

    def same_ip() -> dict[str, Any] | None:
        row = row_of(devenv, name)
        return row if row["ip"] == made["ip"] else None

    row = wait_for(same_ip, 120, "the same IP again", interval=0.5)
    assert row is not None and row["mac"] == made["mac"]


def test_the_daemon_keeps_a_record_a_restore_moved_on_while_it_waited(
    devenv: DevEnv, engine: Any, tmp_path: Path
) -> None:
    """The daemon decides to clean a record up (its container id no longer matches the
    name's), then waits for the lease's owner lock, which a restore holds while it moves the
    name and the record to the new container. Once it has the lock, the record on disk is
    current again: it must be kept (before the fix it was deleted, and the restored container
    was never plumbed: 'not adopted ... no devbox record')."""
    import dataclasses
    import os as _os

    from devbox.oplog import OpLog
    from devbox.services import nic
    from devbox.services.daemon_reconcile import Reconciler

    name = devenv.name("sd")
    make(devenv, name)
    cfg = devenv.cfg()
    st = nic.store(cfg)
    (rec,) = st.for_container(name)
    engine.containers.get(name).stop()

    def free() -> bool:  # the service's daemon lets go of the lease once the container stops
        fd = st.try_owner(rec.key)
        if fd is None:
            return False
        _os.close(fd)
        return True

    wait_for(free, 60, "the daemon letting go of the lease", interval=0.1)
    seen_before_the_lock = dataclasses.replace(rec, container_id="0" * 64)
    with OpLog(tmp_path / "reconcile.log") as log:
        Reconciler(cfg, st, log)._cleanup(seen_before_the_lock)
    kept = st.load_key(rec.key)
    assert kept is not None and kept.container_id == rec.container_id
