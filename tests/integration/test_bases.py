"""build-base against the real engine: Debian from deb.debian.org (cached by its inputs across
runs), rootfs prepared for systemd; unreachable mirrors fail fast, naming the mirror, and leave
nothing behind."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RUN_ID
from tests.fixtures.engine import TEST_LABEL
from tests.fixtures.images import cfg_for

pytestmark = pytest.mark.integration


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_build_base_debian_cached(
    debian_base: str, devbox_env: dict[str, str], devbox_run: Callable[..., Any], engine: Any
) -> None:
    from devbox.services import bases

    # the fixture built it (or found it); the CLI must now skip it by its input digest
    t0 = time.monotonic()
    res = devbox_run("containerauthor", "build-base", "debian-12", "--json", env=devbox_env)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["skipped"] is True
    assert out["tag"] == debian_base == "base/debian-12:bookworm"
    print(f"build-base debian-12 (cached): {time.monotonic() - t0:.2f}s")

    image = engine.images.get(debian_base)
    labels = image.labels
    assert labels["devbox.build.distro"] == "debian"
    assert labels["devbox.build.release"] == "bookworm"
    assert labels["devbox.build.kind"] == "base"
    assert labels["devbox.build.inputs-digest"] == bases.digest_for(
        cfg_for(devbox_env), bases.load("debian-12")
    )
    assert out["image_id"] == image.id
    assert image.attrs["Config"]["Cmd"] == ["/sbin/init"]

    # prepared for systemd as PID 1
    check = (
        "test ! -s /etc/machine-id && test ! -e /usr/sbin/policy-rc.d "
        '&& test -z "$(ls /var/lib/apt/lists | grep -v -e lock -e partial)" '
        '&& test -z "$(ls /var/cache/apt/archives | grep .deb)" '
        "&& readlink /etc/systemd/system/getty.target && test -x /lib/systemd/systemd "
        "&& echo prepared"
    )
    output = engine.containers.run(
        debian_base,
        ["/bin/sh", "-c", check],
        remove=True,
        labels={TEST_LABEL: RUN_ID},
        network_mode="none",
    )
    assert output.decode().split() == ["/dev/null", "prepared"]


@pytest.mark.parametrize(
    "base,setting",
    [("rocky-9", "mirror.rocky"), ("centos-7", "mirror.centos"), ("debian-12", "mirror.debian")],
)
def test_unreachable_mirror_fails_fast(
    base: str, setting: str, devbox_env: dict[str, str], devbox_run: Callable[..., Any], engine: Any
) -> None:
    from devbox.services import bases

    port = _closed_port()
    mirror = f"http://127.0.0.1:{port}/{base}"
    env = {**devbox_env, "DEVBOX_" + setting.upper().replace(".", "_"): mirror}
    tag = bases.load(base).tag
    before = [i.id for i in engine.images.list(name=tag.split(":")[0])]
    t0 = time.monotonic()
    res = devbox_run("containerauthor", "build-base", base, env=env, timeout=120)
    seconds = time.monotonic() - t0
    assert res.returncode == 4, res.stdout + res.stderr
    assert f"mirror {mirror} ({setting}) is unreachable" in res.stderr
    assert "step 'check mirror' failed" in res.stderr
    assert f"DEVBOX_{setting.upper().replace('.', '_')}" in res.stderr
    print(f"{base}: unreachable mirror reported after {seconds:.2f}s")
    # nothing half-made: no work tree, no new image
    assert not (Path(devbox_env["DEVBOX_ROOT"]) / "run" / "bootstrap" / base).exists()
    assert [i.id for i in engine.images.list(name=tag.split(":")[0])] == before


def test_work_tree_removal_unmounts_first(tmp_path: Path) -> None:
    """A killed bootstrap can leave proc mounted in its tree: undo unmounts before deleting."""
    import subprocess

    from devbox.adapters import bootstrap

    work = tmp_path / "bootstrap" / "debian-12"
    proc = work / "rootfs" / "proc"
    proc.mkdir(parents=True)
    subprocess.run(["mount", "-t", "proc", "proc", str(proc)], check=True)
    try:
        assert (proc / "self").exists()
        bootstrap.remove_tree(work)
        assert not work.exists()
    finally:
        if str(proc) in Path("/proc/self/mounts").read_text():
            subprocess.run(["umount", "--lazy", str(proc)], check=False)
