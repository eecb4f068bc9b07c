"""Runs last (see conftest): nothing this run made may be left behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import RUN_ID
from tests.fixtures.engine import TEST_LABEL

pytestmark = [pytest.mark.integration, pytest.mark.leftovers]


def _cmdlines(program: str | None) -> list[tuple[int, str]]:
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            if (program and f"({program})" not in stat) or stat.split(") ", 1)[1][0] == "Z":
                continue
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        out.append((int(entry), cmd))
    return out


def test_no_network_namespace_left() -> None:
    from devbox.adapters.net import netns

    assert [n for n in netns.names() if RUN_ID in n] == []


def test_no_veth_or_macvlan_left() -> None:
    from devbox.adapters.net import netlink

    links = netlink.links()
    ours = {li.index for li in links if RUN_ID in li.name}
    left = [(li.name, li.kind) for li in links if li.index in ours or li.link in ours]
    assert left == []


def test_no_dnsmasq_or_daemon_left(tmp_path_factory: pytest.TempPathFactory) -> None:
    """No dnsmasq or devbox service of this run: named by the run id, or rooted in this
    session's temporary folder (root's CLI starts a service for every root it is used with)."""
    base = str(tmp_path_factory.getbasetemp())
    assert [c for c in _cmdlines("dnsmasq") if RUN_ID in c[1]] == []
    daemons = [c for c in _cmdlines(None) if "common daemon" in c[1] and "devbox" in c[1]]
    assert [c for c in daemons if RUN_ID in c[1] or f"--root {base}/" in c[1]] == []


def test_no_container_left() -> None:
    import docker

    try:
        client = docker.from_env(timeout=30)
        left = client.containers.list(all=True, filters={"label": f"{TEST_LABEL}={RUN_ID}"})
    except docker.errors.DockerException as err:
        # an engine that crashed mid-run would hide leftovers: that is a failure, not a skip
        pytest.fail(
            f"cannot ask the Docker engine for this run's containers ({err}): is dockerd "
            "running? bash scripts/start-dockerd.sh",
            pytrace=False,
        )
    assert [c.name for c in left] == []


def test_no_container_cgroups_left() -> None:
    """devbox/<name> and devbox-view/<name> go with the container (Docker removes only the
    container's own leaf): none of this run's names may be left in any hierarchy."""
    cgroot = Path("/sys/fs/cgroup")
    left = [
        str(p) for top in ("devbox", "devbox-view") for p in cgroot.glob(f"*/{top}/*{RUN_ID}*")
    ] + [str(p) for p in cgroot.glob(f"devbox*/*{RUN_ID}*")]
    assert left == []


def test_no_mount_left() -> None:
    """No overlay, store bind or other mount of this run's roots is left."""
    from devbox.adapters.host import mounts

    assert [m.target for m in mounts.mounts() if RUN_ID in m.target] == []
