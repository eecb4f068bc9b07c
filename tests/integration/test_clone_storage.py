"""Clone storage against the real kernel and engine: overlay /opt over a 200 MB snapshot,
copy-once snapshots, remounting after a "reboot", and commit + sysprep layer of a container."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from devbox.adapters import ssh_hostkeys
from devbox.adapters.docker import containers as dc
from devbox.adapters.docker import snapshots
from devbox.adapters.host import diskusage, mounts
from devbox.config import Config, load
from devbox.model import clone_plan
from devbox.paths import Layout
from devbox.services import clone_snapshot, clone_steps, clone_storage
from devbox.state import clone_records
from tests.conftest import RUN_ID
from tests.fixtures.engine import TEST_LABEL
from tests.fixtures.engine import test_name as unique_name

pytestmark = pytest.mark.integration

MB = 1024 * 1024


def _need_root() -> None:
    if os.geteuid() != 0:
        pytest.fail("needs root (mount(2)): run the integration tests as root", pytrace=False)


def _write_big(path: Path, size: int) -> None:
    chunk = os.urandom(MB)
    with path.open("wb") as fh:
        for _ in range(size // MB):
            fh.write(chunk)
        fh.flush()
        os.fsync(fh.fileno())


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Path]:
    _need_root()
    base = tmp_path / "root"
    base.mkdir()
    yield base
    for m in mounts.overlay_mounts_under(base):
        mounts.unmount(Path(m.target))


def _cfg(root: Path) -> Config:
    return load(environ={"DEVBOX_ROOT": str(root), "HOME": str(root.parent)}, files=())


def _fake_clone(layout: Layout, name: str, snap: str) -> None:
    """The on-disk record the clone service writes for a clone (without its container)."""
    (layout.container_dir(name)).mkdir(parents=True)
    clone_records.write_record(
        layout.container_dir(name) / clone_records.CLONE_FILE, {"snapshot": snap, "source": "src"}
    )


def test_overlay_over_200mb_snapshot(root: Path) -> None:
    layout = Layout(root)
    src_opt = root / "src" / "opt"
    (src_opt / "data").mkdir(parents=True)
    _write_big(src_opt / "data" / "events.bin", 200 * MB)
    (src_opt / "data" / "small.txt").write_text("from src\n")
    os.chown(src_opt, 1000, 1000)
    src_opt.chmod(0o750)

    snap = "src-20260101000000-abcd"
    method = mounts.snapshot_copy(src_opt, clone_records.snapshot_opt(layout, snap))
    assert method == ("reflink" if mounts.reflink_supported(layout.snapshots) else "copy")
    lower = clone_records.snapshot_opt(layout, snap)
    assert (lower / "data" / "events.bin").stat().st_size == 200 * MB
    assert lower.stat().st_uid == 1000

    before = mounts.fs_used_bytes(root)
    names = ["peer1", "peer2", "peer3"]
    for name in names:
        _fake_clone(layout, name, snap)
    assert sorted(clone_storage.restore_mounts(_cfg(root))) == names
    assert clone_storage.restore_mounts(_cfg(root)) == []  # idempotent
    for name in names:
        merged = layout.opt_dir(name)
        assert mounts.is_mounted(merged)
        assert (merged / "data" / "events.bin").stat().st_size == 200 * MB
        # the merged root looks like SRC's /opt (owner and mode from the snapshot)
        assert merged.stat().st_uid == 1000 and (merged.stat().st_mode & 0o777) == 0o750

    # writes in one clone are invisible to the snapshot and to the other clones
    one = layout.opt_dir("peer1")
    (one / "data" / "small.txt").write_text("changed in peer1\n")
    (one / "data" / "new.bin").write_bytes(os.urandom(MB))
    (one / "data" / "events.bin").rename(one / "data" / "moved.bin")
    assert (lower / "data" / "small.txt").read_text() == "from src\n"
    assert (lower / "data" / "events.bin").exists()
    assert not (lower / "data" / "new.bin").exists()
    for other in ("peer2", "peer3"):
        merged = layout.opt_dir(other)
        assert (merged / "data" / "small.txt").read_text() == "from src\n"
        assert not (merged / "data" / "new.bin").exists()
        assert (merged / "data" / "events.bin").exists()
    with (one / "data" / "new.bin").open("rb") as fh:
        assert len(fh.read()) == MB

    # three clones of a 200 MB /opt cost what they wrote, not 3 x 200 MB
    uppers = sum(diskusage.disk_usage(layout.container_dir(n) / "opt-upper") for n in names)
    assert uppers < 3 * MB, uppers
    grown = mounts.fs_used_bytes(root) - before
    assert grown < 40 * MB, f"filesystem grew by {grown / MB:.1f} MB for 3 clones"

    # "reboot": everything unmounted, then restored with the clones' writes intact
    for name in names:
        assert mounts.unmount(layout.opt_dir(name))
        assert not mounts.is_mounted(layout.opt_dir(name))
    assert sorted(clone_storage.restore_mounts(_cfg(root), names)) == names
    assert (one / "data" / "small.txt").read_text() == "changed in peer1\n"
    assert not (one / "data" / "events.bin").exists()

    # removing the clones' storage: unmounted, upper gone, snapshot gone once unused
    for name in names:
        assert clone_storage.release_storage(_cfg(root), name, purge=False)
        assert not mounts.is_mounted(layout.opt_dir(name))
        assert (layout.container_dir(name) / "opt-upper").exists()  # kept without purge
    for name in names:
        clone_storage.release_storage(_cfg(root), name, purge=True)
        assert not layout.container_dir(name).exists()
    assert not clone_records.snapshot_dir(layout, snap).exists()
    assert mounts.overlay_mounts_under(root) == []


def test_remove_tree_refuses_a_mounted_tree(root: Path) -> None:
    layout = Layout(root)
    lower = clone_records.snapshot_opt(layout, "s")
    lower.mkdir(parents=True)
    _fake_clone(layout, "c1", "s")
    clone_storage.restore_mounts(_cfg(root))
    from devbox.errors import OperationFailed

    with pytest.raises(OperationFailed):
        mounts.remove_tree(layout.container_dir("c1"))
    assert mounts.unmount(layout.opt_dir("c1"))
    assert not mounts.unmount(layout.opt_dir("c1"))


def test_mount_with_missing_snapshot_fails_clearly(root: Path) -> None:
    from devbox.errors import OperationFailed

    spec = mounts.OverlaySpec(root / "nope", root / "u", root / "w", root / "m")
    with pytest.raises(OperationFailed, match="missing"):
        mounts.mount_overlay(spec)


SYSPREP_DOCKERFILE = """FROM {base}
RUN ["/bin/mkdir", "-p", "/etc/ssh", "/var/log/journal/abc", "/var/lib/dbus", "/var/lib/dhcp"]
RUN ["/bin/sh", "-c", "echo key > /etc/ssh/ssh_host_ed25519_key; echo cfg > /etc/ssh/sshd_config; \
echo 0123456789abcdef > /etc/machine-id; cp /etc/machine-id /var/lib/dbus/machine-id; \
echo j > /var/log/journal/abc/system.journal; echo l > /var/log/syslog.log; \
echo lease > /var/lib/dhcp/dhclient.leases; echo keep > /var/lib/keep; \
echo root:x:0:0:root:/root:/bin/sh > /etc/passwd; echo root:x:0: > /etc/group"]
"""


@pytest.fixture
def os_like_image(engine: object, busybox_image: str) -> Iterator[str]:
    tag = f"devbox-test/oslike:{RUN_ID}"
    image = snapshots.build_derived(
        SYSPREP_DOCKERFILE.format(base=busybox_image), {}, tag, {TEST_LABEL: RUN_ID}
    )
    yield image
    snapshots.remove_image(tag)


@pytest.mark.parametrize("method", ["layer", "image"])
def test_commit_and_sysprep(os_like_image: str, method: str) -> None:
    """Both ways a clone drops what it must not inherit give the same files: deleted in the
    clone's own layer before first boot ("layer", overlay2) or in a derived image ("image")."""
    src = unique_name("src")
    snap = clone_plan.snapshot_id(src, 1_800_000_000.0, method)
    raw, image = clone_plan.snapshot_raw_image(snap), clone_plan.snapshot_image(snap)
    created: list[str] = []
    try:
        dc.create(
            {"image": os_like_image, "name": src, "labels": {TEST_LABEL: RUN_ID}, "detach": True}
        )
        created.append(src)
        dc.start(src)
        code, _ = dc.exec_run(src, ["/bin/sh", "-c", "echo written-by-src > /var/lib/state"])
        assert code == 0
        repo, _, tag = raw.rpartition(":")
        with snapshots.paused(src, running=True):
            assert dc.inspect(src).status == "paused"  # type: ignore[union-attr]
            snapshots.commit(src, repo, tag, {TEST_LABEL: RUN_ID})
        assert dc.inspect(src).status == "running"  # type: ignore[union-attr]
        prep = clone_snapshot.sysprep_snapshot(raw, image, {TEST_LABEL: RUN_ID}, method=method)
        assert prep.method == method
        assert snapshots.image_id(raw) is None and snapshots.image_id(image)
        if method == "layer":
            assert "/etc/ssh/ssh_host_ed25519_key" in prep.removals
            assert "/var/log/journal/abc" in prep.removals
            assert "/var/lib/keep" not in prep.removals
        else:
            assert prep.removals == []

        peer = unique_name("peer")
        dc.create(
            {
                "image": image,
                "name": peer,
                "labels": {TEST_LABEL: RUN_ID},
                "detach": True,
                "hostname": peer,
            }
        )
        created.append(peer)
        # before first boot: fresh identity files go in (and, "layer", the removals happen)
        keys = ssh_hostkeys.generate_set(clone_plan.HOST_KEY_TYPES, peer)
        files = clone_plan.clone_files(peer, keys)
        how = dc.seed_files(
            peer, {p: (d, m, 0, 0) for p, (d, m) in files.items()}, remove=prep.removals
        )
        assert how == "layer"  # this engine runs overlay2

        assert dc.read_file(peer, "/var/lib/state") == b"written-by-src\n"  # SRC's state
        assert dc.read_file(peer, "/var/lib/keep") == b"keep\n"
        assert dc.read_file(peer, "/etc/ssh/sshd_config") == b"cfg\n"
        assert dc.read_file(peer, "/etc/machine-id") == b""
        for gone in (
            "/var/lib/dbus/machine-id",
            "/var/log/journal/abc/system.journal",
            "/var/log/syslog.log",
            "/var/lib/dhcp/dhclient.leases",
            "/etc/ssh/ssh_host_rsa_key",
        ):
            assert dc.read_file(peer, gone) is None, gone
        pub = dc.read_file(peer, "/etc/ssh/ssh_host_ed25519_key.pub")
        assert pub == keys["ed25519"][1]
        assert dc.read_file(peer, "/etc/ssh/ssh_host_ed25519_key") == keys["ed25519"][0]
        # the source is untouched
        assert dc.read_file(src, "/etc/machine-id") == b"0123456789abcdef\n"
        assert dc.read_file(src, "/etc/ssh/ssh_host_ed25519_key") == b"key\n"
    finally:
        for name in created:
            dc.remove(name)
        snapshots.remove_image(image)
        snapshots.remove_image(raw)


def test_arp_check_finds_an_address_in_use(lab: object, lab_container: object) -> None:
    """The clone's ARP clash check: another host answering for an address is found (by its
    MAC); a free address is not."""
    from devbox.services import network

    env = lab  # tests.fixtures.lab.LabEnv
    cfg = env.cfg()  # type: ignore[attr-defined]
    prefix = env.prefix  # type: ignore[attr-defined]
    holder = lab_container()  # type: ignore[operator]
    prober = lab_container()  # type: ignore[operator]
    try:
        held = network.attach(cfg, holder.name, ip=f"{prefix}61/24")
        probe_if = network.attach(cfg, prober.name, ip=f"{prefix}62/24")
        pid = dc.inspect(prober.name).pid  # type: ignore[union-attr]
        clash = clone_steps.address_clash
        assert clash(pid, probe_if.ifname, probe_if.mac, f"{prefix}61") == held.mac
        assert clash(pid, probe_if.ifname, probe_if.mac, f"{prefix}63") is None
    finally:
        for ctr in (holder, prober):
            try:
                network.detach(cfg, ctr.name)
            except Exception:  # noqa: BLE001 - the container goes anyway
                pass


@pytest.fixture
def xfs_root(tmp_path: Path) -> Iterator[Path]:
    """A small XFS (reflink=1) on a loop device: where a snapshot shares blocks with SRC."""
    import shutil as sh
    import subprocess

    _need_root()
    if not sh.which("mkfs.xfs"):
        # the reflink path behind the README's clone figures: a missing tool fails, never skips
        pytest.fail(
            "mkfs.xfs missing: apt-get install -y xfsprogs (scripts/install-deps.sh)", pytrace=False
        )
    image = tmp_path / "xfs.img"
    with image.open("wb") as fh:
        fh.truncate(1536 * MB)
    subprocess.run(["mkfs.xfs", "-q", "-m", "reflink=1", str(image)], check=True)
    dev = subprocess.run(
        ["losetup", "--find", "--show", str(image)], check=True, capture_output=True, text=True
    ).stdout.strip()
    mnt = tmp_path / "xfs"
    mnt.mkdir()
    try:
        subprocess.run(["mount", dev, str(mnt)], check=True)
        try:
            yield mnt
        finally:
            for m in mounts.overlay_mounts_under(mnt):
                mounts.unmount(Path(m.target))
            subprocess.run(["umount", str(mnt)], check=True)
    finally:
        subprocess.run(["losetup", "-d", dev], check=True)


def test_reflink_snapshot_costs_no_data_blocks(xfs_root: Path) -> None:
    layout = Layout(xfs_root / "root")
    src_opt = layout.opt_dir("src")
    src_opt.mkdir(parents=True)
    _write_big(src_opt / "events.bin", 200 * MB)
    assert mounts.reflink_supported(layout.snapshots)
    before = mounts.fs_used_bytes(xfs_root)
    assert mounts.snapshot_copy(src_opt, clone_records.snapshot_opt(layout, "s1")) == "reflink"
    grown = mounts.fs_used_bytes(xfs_root) - before
    assert grown < 10 * MB, f"a reflink snapshot of 200 MB took {grown / MB:.1f} MB"
    # the snapshot is immutable for clones even when SRC rewrites its file in place
    with (src_opt / "events.bin").open("r+b") as fh:
        fh.write(b"changed by src")
    with (clone_records.snapshot_opt(layout, "s1") / "events.bin").open("rb") as fh:
        assert fh.read(14) != b"changed by src"
    _fake_clone(layout, "c1", "s1")
    assert clone_storage.restore_mounts(_cfg(layout.root)) == ["c1"]
    assert (layout.opt_dir("c1") / "events.bin").stat().st_size == 200 * MB
    clone_storage.release_storage(_cfg(layout.root), "c1", purge=True)
    assert not clone_records.snapshot_dir(layout, "s1").exists()


def test_doctor_says_whether_clone_snapshots_share_blocks(xfs_root: Path, tmp_path: Path) -> None:
    from devbox.services import doctor

    on_xfs = doctor.check_reflink(xfs_root / "root")
    assert on_xfs.ok and "reflink" in on_xfs.detail
    # a tmpfs never shares blocks (no FICLONE), whatever filesystem this host's /tmp is on
    import subprocess

    plain_fs = tmp_path / "plain-fs"
    plain_fs.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", str(plain_fs)], check=True
    )
    try:
        plain = plain_fs / "plain-root"
        assert not mounts.reflink_supported(plain)
        check = doctor.check_reflink(plain)
        assert not check.ok and not check.needed and "XFS" in check.fix
    finally:
        subprocess.run(["umount", str(plain_fs)], check=True)
