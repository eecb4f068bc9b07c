"""``devbox common lab up --hosts 2`` against real parts: the lab becomes a bridge, and a
simulated host (netns, veth uplink, a DHCP lease from the lab's dnsmasq) runs its own dockerd,
sshd and devbox service; ``lab down`` (twice, and after its records are lost) leaves nothing.

On a lab of its own (tag ``m``, subnet 10.214.253.0/24, which the shared ``lab`` fixture never
picks), so it does not touch that one. Nothing leaves this machine: the only addresses used
are the lab's, reached through the lab's own shim.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RUN_ID
from tests.fixtures.lab import LabEnv, devbox_cli, lab_settings, teardown_lab
from tests.fixtures.service_jobs import stop_service

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SUBNET_OCTET = 253  # lab_settings picks 3..252 for the shared lab


def _links() -> set[str]:
    from devbox.adapters.net import netlink

    links = netlink.links()
    ours = {li.index for li in links if RUN_ID in li.name}
    return {li.name for li in links if li.index in ours or li.link in ours}


def _processes_under(root: Path) -> list[tuple[int, str]]:
    """Live processes whose command line names ``root`` (dockerd, sshd, the service...)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if stat.split(") ", 1)[1][0] != "Z" and str(root) in cmd:
            out.append((int(entry), cmd))
    return out


def _mounts_under(root: Path) -> list[str]:
    text = Path("/proc/self/mountinfo").read_text()
    return [line.split()[4] for line in text.splitlines() if line.split()[4].startswith(str(root))]


def _status(env: LabEnv) -> dict[str, Any]:
    result = devbox_cli(env.full_env(), "common", "lab", "status", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def _assert_nothing_left(env: LabEnv, before: set[str]) -> None:
    from devbox.adapters.net import netns

    assert [n for n in netns.names() if n.startswith(env.name)] == []
    assert _links() - before == set()
    assert _processes_under(env.root) == []
    assert _mounts_under(env.root) == []
    assert not (env.root / "lab-hosts").exists()


def _ssh_runs_in_the_hosts_netns(host: dict[str, Any], tmp: Path) -> None:
    """A real SSH login as root, host key checked (never accepted blindly), with a key put in
    the host's authorized_keys; the command runs in the simulated host's netns."""
    import paramiko

    from devbox.adapters.net import netns

    key = paramiko.RSAKey.generate(2048)
    Path(host["authorized_keys"]).write_text(f"ssh-rsa {key.get_base64()} test\n")
    key_type, key_b64 = (
        Path(host["root"])
        .parent.joinpath("ssh", "ssh_host_ed25519_key.pub")
        .read_text()
        .split()[:2]
    )
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.get_host_keys().add(host["address"], key_type, paramiko.Ed25519Key(data=_b64(key_b64)))
    client.connect(
        host["address"],
        username="root",
        pkey=key,
        timeout=10,
        allow_agent=False,
        look_for_keys=False,
    )
    try:
        _, out, _ = client.exec_command("stat -L -c %i /proc/self/ns/net", timeout=20)
        inode = out.read().decode().strip()
    finally:
        client.close()
    assert inode == str(os.stat(netns.named_path(host["netns"])).st_ino)


def _b64(text: str) -> bytes:
    import base64

    return base64.b64decode(text)


def test_lab_up_hosts_2_runs_a_real_host_and_down_leaves_nothing(
    engine: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    import docker

    from devbox.api.client import Client
    from devbox.model.lab_plan import parse_leases

    env = lab_settings("m", tmp_path_factory.mktemp(f"labm{RUN_ID}"), SUBNET_OCTET)
    before = _links()
    try:
        up = devbox_cli(env.full_env(), "common", "lab", "up", "--hosts", "2", timeout=300)
        assert up.returncode == 0, up.stderr
        st = _status(env)
        assert st["up"] and [h["name"] for h in st["hosts"]] == [f"{env.name}-h2"]
        host = st["hosts"][0]
        assert host["dockerd_alive"] and host["sshd_alive"] and host["service_alive"]

        # real DHCP: the host's address is a lease of the lab's dnsmasq, for its name and MAC
        address = host["address"]
        assert address.startswith(env.prefix)
        leases = parse_leases((env.root / "lab" / "dnsmasq.leases").read_text())
        assert [(le.hostname, le.mac) for le in leases if le.ip == address] == [
            (host["name"], host["mac"])
        ]

        # its own dockerd, with an empty image store of its own (nothing is pulled)
        client = docker.DockerClient(base_url=host["docker_host"], timeout=30)
        try:
            assert client.version()["Version"]
            assert client.info()["DockerRootDir"].startswith(str(env.root / "lab-hosts"))
            assert client.images.list() == []
        finally:
            client.close()

        # its sshd answers from this machine on the host's lab address (through the lab shim)
        with socket.create_connection((address, 22), timeout=10) as sock:
            assert sock.recv(64).startswith(b"SSH-2.0-")
        _ssh_runs_in_the_hosts_netns(host, env.root)

        # its devbox service answers the API on its own root's socket
        version = Client(Path(host["service_socket"])).get("/version")
        assert version["api"] == 1

        # idempotent: a second up changes nothing
        again = devbox_cli(env.full_env(), "common", "lab", "up", "--hosts", "2", timeout=300)
        assert again.returncode == 0, again.stderr
        assert _status(env)["hosts"][0]["dockerd_pid"] == host["dockerd_pid"]
    finally:
        down = devbox_cli(env.full_env(), "common", "lab", "down", timeout=300)
        stop_service(env.root)  # root's CLI started the service that ran lab up and down
    assert down.returncode == 0, down.stderr
    _assert_nothing_left(env, before)
    assert devbox_cli(env.full_env(), "common", "lab", "down").returncode == 0  # twice: fine
    stop_service(env.root)

    # after a crash that lost the records, down still finds and stops what runs in the netns
    try:
        up = devbox_cli(env.full_env(), "common", "lab", "up", "--hosts", "2", timeout=300)
        assert up.returncode == 0, up.stderr
        host = _status(env)["hosts"][0]
        assert host["address"] == address  # same MAC, same lease
        Path(host["root"]).parent.joinpath("host.json").unlink()
        assert _processes_under(env.root)
    finally:
        down = devbox_cli(env.full_env(), "common", "lab", "down", timeout=300)
        teardown_lab(env)
    assert down.returncode == 0, down.stderr
    _assert_nothing_left(env, before)


def test_lab_hosts_bad_count_makes_nothing(tmp_path_factory: pytest.TempPathFactory) -> None:
    from devbox.adapters.net import netns

    env = lab_settings("z", tmp_path_factory.mktemp(f"labz{RUN_ID}"), SUBNET_OCTET)
    try:
        result = devbox_cli(env.full_env(), "common", "lab", "up", "--hosts", "0")
        assert result.returncode == 2
        assert "--hosts 0" in result.stderr and len(result.stderr.strip().splitlines()) <= 3
        assert not netns.exists(env.name)
    finally:
        teardown_lab(env)
