"""build-image dev, then boot it the full-VM way (systemd as PID 1, not privileged) with
``devbox.model.vmstyle.systemd_run_kwargs`` and log in over SSH with paramiko."""

from __future__ import annotations

import io
import json
import tarfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paramiko
import pytest

from tests.conftest import RUN_ID
from tests.fixtures.engine import TEST_LABEL
from tests.fixtures.engine import test_name as unique_name

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BOOT_TIMEOUT = 60.0


def test_build_image_dev(
    dev_image: str, devbox_env: dict[str, str], devbox_run: Callable[..., Any], engine: Any
) -> None:
    t0 = time.monotonic()
    res = devbox_run("containerauthor", "build-image", "dev", "--json", env=devbox_env)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["skipped"] is True and out["tag"] == dev_image == "devbox/dev:latest"
    print(
        f"build-image dev (cached): {time.monotonic() - t0:.2f}s; "
        f"network-wait helper included: {out['netwait']}"
    )
    labels = engine.images.get(dev_image).labels
    assert labels["devbox.build.kind"] == "image"
    assert labels["devbox.build.name"] == "dev"
    assert labels["devbox.build.from"] == "base/debian-12:bookworm"
    assert labels["devbox.build.inputs-digest"] == out["digest"]
    # no SSH host keys baked into the image
    keys = engine.containers.run(
        dev_image,
        ["/bin/sh", "-c", "ls /etc/ssh/ | grep -c host_ || true"],
        entrypoint=[],
        remove=True,
        labels={TEST_LABEL: RUN_ID},
        network_mode="none",
    )
    assert keys.decode().strip() == "0"

    res = devbox_run("containerauthor", "list-images", "--json", env=devbox_env)
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)
    tags = {t for r in rows for t in r["tags"]}
    assert {"devbox/dev:latest", "base/debian-12:bookworm"} <= tags


def _wait_running(ctr: Any) -> tuple[str, float]:
    t0 = time.monotonic()
    state = ""
    while time.monotonic() - t0 < BOOT_TIMEOUT:
        res = ctr.exec_run(["systemctl", "is-system-running"])
        state = res.output.decode().strip()
        if state in ("running", "degraded"):
            break
        ctr.reload()
        if ctr.status != "running":
            break
        time.sleep(0.25)
    return state, time.monotonic() - t0


@pytest.fixture
def booted(dev_image: str, engine: Any, tmp_path: Path) -> Iterator[Callable[[], Any]]:
    from devbox.model.vmstyle import systemd_run_kwargs

    made: list[str] = []
    # a network of its own (Docker makes the bridge), so the test needs neither the LAN nor
    # Docker's default bridge
    net = engine.networks.create(unique_name("net"), driver="bridge", labels={TEST_LABEL: RUN_ID})

    def boot() -> Any:
        name = unique_name("boot")
        opt = tmp_path / name / "opt"
        opt.mkdir(parents=True)
        (opt / "marker").write_text(name)
        kwargs = systemd_run_kwargs(
            name, dev_image, opt, {TEST_LABEL: RUN_ID}, net.name, restart=""
        )
        made.append(name)
        ctr = engine.containers.create(**kwargs)
        # On Docker's bridge the interface is eth0, not the LAN interface devbox plumbs:
        # point the image's network-wait helper (if it has one) at it.
        _put(
            ctr,
            "/etc/systemd/system",
            "devbox-net-wait.service.d/10-test.conf",
            b"[Service]\nEnvironment=DEVBOX_NET_IFNAME=eth0 DEVBOX_NET_WAIT_TIMEOUT=20\n",
        )
        ctr.start()
        return ctr

    try:
        yield boot
    finally:
        from devbox.adapters.host import cgroupfs

        for name in made:
            try:
                engine.containers.get(name).remove(force=True)
            except Exception:  # noqa: BLE001
                pass
            cgroupfs.remove_container_cgroups(name)
        net.remove()


def _put(ctr: Any, where: str, path: str, data: bytes, mode: int = 0o644, owner: int = 0) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        parts = path.split("/")
        for i in range(1, len(parts)):
            d = tarfile.TarInfo("/".join(parts[:i]))
            d.type = tarfile.DIRTYPE
            d.mode = 0o755
            tar.addfile(d)
        info = tarfile.TarInfo(path)
        info.size = len(data)
        info.mode = mode
        info.uid = info.gid = owner
        tar.addfile(info, io.BytesIO(data))
    assert ctr.put_archive(where, buf.getvalue())


def _authorize(ctr: Any, key: paramiko.PKey) -> None:
    line = f"{key.get_name()} {key.get_base64()} devbox-test\n".encode()
    uid = int(ctr.exec_run(["id", "-u", "dev"]).output.decode())
    _put(ctr, "/home/dev/.ssh", "authorized_keys", line, mode=0o600, owner=uid)


def _host_key(ctr: Any) -> paramiko.PKey:
    pub = ctr.exec_run(["cat", "/etc/ssh/ssh_host_ed25519_key.pub"]).output.decode().split()
    return paramiko.Ed25519Key(data=__import__("base64").b64decode(pub[1]))


def test_dev_boots_systemd_and_sshd(booted: Callable[[], Any], engine: Any) -> None:
    first, second = booted(), booted()
    results = {}
    for ctr in (first, second):
        state, seconds = _wait_running(ctr)
        if state == "degraded":
            failed = ctr.exec_run(["systemctl", "--failed", "--no-legend"]).output.decode()
            print(f"{ctr.name}: degraded, failed units:\n{failed}")
        assert state in ("running", "degraded"), ctr.logs(tail=40).decode(errors="replace")
        results[ctr.name] = (state, seconds)
        top = ctr.exec_run(["cat", "/proc/1/comm"]).output.decode().strip()
        assert top == "systemd"
        ctr.reload()
        assert ctr.attrs["HostConfig"]["Privileged"] is False
        assert ctr.exec_run(["cat", "/opt/marker"]).output.decode() == ctr.name
        if ctr.exec_run(["test", "-e", "/usr/local/sbin/devbox-net-wait"]).exit_code == 0:
            res = ctr.exec_run(["systemctl", "is-active", "devbox-net-wait.service"])
            assert res.output.decode().strip() == "active"
    print("boot to is-system-running:", {n: f"{s} {t:.2f}s" for n, (s, t) in results.items()})

    # the units devbox puts in parse cleanly: systemd warns on the console at every boot of
    # every container about a line it ignores ('devbox-net-wait.service:7: Invalid URL')
    import re

    console = first.logs().decode(errors="replace")
    warned = re.findall(r"/etc/systemd/system/[^:\s]*devbox[^:\s]*:\d+: .*", console)
    assert not warned, warned

    # sshd starts with systemd (the image's drop-in): not ordered after sysinit/basic.target,
    # no second sshd for a configuration check; the first-boot host-key unit is early too
    for unit in ("ssh.service", "devbox-ssh-hostkeys.service"):
        after = first.exec_run(["systemctl", "show", "-p", "After", "--value", unit])
        assert not {"sysinit.target", "basic.target"} & set(after.output.decode().split()), unit
    pre = first.exec_run(["systemctl", "show", "-p", "ExecStartPre", "--value", "ssh.service"])
    assert pre.output.decode().strip() == ""
    # ... and a user's login as soon as sshd answers is not turned away by pam_nologin: no
    # /run/nologin is made at boot (systemd-tmpfiles' own view of its configuration)
    tmpfiles = first.exec_run(["systemd-tmpfiles", "--cat-config"]).output.decode()
    assert "/run/nologin" not in tmpfiles
    # generators with nothing to find in an unprivileged container do not run at boot
    from devbox.model.image_plan import IMAGE_MASKED_GENERATORS, IMAGE_MASKED_UNITS

    for unit in IMAGE_MASKED_UNITS:  # ... nor units that would redo what the build did
        state = first.exec_run(["systemctl", "is-enabled", unit]).output.decode().strip()
        assert state == "masked", (unit, state)

    for gen in IMAGE_MASKED_GENERATORS:
        link = first.exec_run(["readlink", f"/etc/systemd/system-generators/{gen}"])
        assert link.output.decode().strip() == "/dev/null", gen

    # per-container identity: SSH host keys and machine-id made at first boot
    assert _host_key(first).asbytes() != _host_key(second).asbytes()
    ids = [c.exec_run(["cat", "/etc/machine-id"]).output.decode().strip() for c in (first, second)]
    assert all(len(i) == 32 for i in ids) and ids[0] != ids[1]

    # sshd accepts a key login as 'dev', who has passwordless sudo
    key = paramiko.Ed25519Key.from_private_key(io.StringIO(_new_ed25519()))
    _authorize(first, key)
    first.reload()
    ip = next(iter(first.attrs["NetworkSettings"]["Networks"].values()))["IPAddress"]
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.get_host_keys().add(ip, "ssh-ed25519", _host_key(first))
    t0 = time.monotonic()
    client.connect(
        ip,
        username="dev",
        pkey=key,
        timeout=10,
        banner_timeout=10,
        auth_timeout=10,
        allow_agent=False,
        look_for_keys=False,
    )
    try:
        _stdin, stdout, _stderr = client.exec_command(
            "sudo -n id -u && hostname && systemctl is-system-running; locale | head -1", timeout=20
        )
        lines = stdout.read().decode().split()
        assert lines[0] == "0"
        assert lines[1] == first.name
        assert lines[2] in ("running", "degraded")
        assert lines[3] == "LANG=en_US.UTF-8"
    finally:
        client.close()
    print(f"ssh login + command: {time.monotonic() - t0:.2f}s")

    # a clean, quick stop (SIGRTMIN+3 to systemd)
    t0 = time.monotonic()
    first.stop(timeout=20)
    stop_seconds = time.monotonic() - t0
    first.reload()
    print(f"docker stop took {stop_seconds:.2f}s, exit code {first.attrs['State']['ExitCode']}")
    assert first.status == "exited"


def _new_ed25519() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.generate()
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
