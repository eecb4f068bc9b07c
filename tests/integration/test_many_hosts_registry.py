"""Publish once, run anywhere (#15) on ``lab up --hosts 2``: this machine runs the private
registry (``registryserver up``: TLS with devbox's CA, htpasswd) at its lab address, logs its
engine in (``user add``) and publishes the dev image; ``lab up --hosts 2`` again sets h2 up
as an admin sets up a real host (the registry's address in its settings, devbox's CA trusted by
its engine, the login in root's docker config there); then ``--host h2 make-dev-container`` on
h2, whose engine has no such image, pulls it from the registry over the lab LAN and the
container runs with a lease of the lab's DHCP. Refusals first: a wrong password on h2 and a
registry that is down are one-line errors (exit 4) that leave nothing on h2.

On a lab of its own (tag ``g``, 10.214.249.0/24, another when that one is taken). Nothing
leaves this machine: the registry is reached at this machine's lab shim address, the only SSH
target is h2's lab address.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.cli import run_devbox
from tests.conftest import RUN_ID
from tests.fixtures.lab import devbox_cli, free_octet
from tests.fixtures.two_hosts import TwoHosts, json_of, load_image, two_hosts_lab
from tests.refusals import assert_refused
from tests.waits import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SUBNET_OCTET = 249
PASSWORD = "Reg-pass-" + RUN_ID


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return int(s.getsockname()[1])


@dataclass
class Fleet:
    t: TwoHosts
    address: str  # the registry, as every host names it
    docker_config: Path  # this machine's engine login (a test's own, never /root/.docker)


@pytest.fixture(scope="module")
def fleet(engine: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    from devbox.services import registry_site

    port = _free_port()
    octet = free_octet(SUBNET_OCTET)  # another, when a leftover lab of another run has it
    address = f"10.214.{octet}.2:{port}"  # this machine's address on the lab LAN (S.2)
    mine = tmp_path_factory.mktemp(f"reghosts{RUN_ID}")
    name, net = f"dbxt{RUN_ID}greg", f"dbxt{RUN_ID}gnet"
    local = {
        "DEVBOX_REGISTRY_ADDRESS": address,
        "DEVBOX_REGISTRY_PORT": str(port),
        "DEVBOX_REGISTRY_STORAGE": str(mine / "storage"),
        "DEVBOX_REGISTRY_NAME": name,
        "DEVBOX_REGISTRY_NETWORK": net,
        "DOCKER_CONFIG": str(mine / "docker"),
        "DEVBOX_LAB_LEASE_TIME": "2m",  # dnsmasq's shortest
        "DEVBOX_LAB_RENEWAL_TIME": "15",  # T1: renewals every 15 s
    }
    try:
        with two_hosts_lab(tmp_path_factory, "g", octet, local_env=local) as t:
            yield Fleet(t, address, mine / "docker")
    finally:
        for ctr in (name, f"{name}-gc"):
            try:
                engine.containers.get(ctr).remove(force=True)
            except Exception:  # noqa: BLE001 - never made, or gone
                pass
        for image in engine.images.list():
            for tag in image.tags:
                if tag.startswith(address + "/"):
                    engine.images.remove(tag, force=True)
        try:
            engine.networks.get(net).remove()
        except Exception:  # noqa: BLE001 - never made
            pass
        shutil.rmtree(registry_site.engine_ca_file(address).parent, ignore_errors=True)


def _h2_engine(host: dict[str, Any]) -> Any:
    import docker

    return docker.DockerClient(base_url=host["docker_host"], timeout=120)


def _h2_image(h2: Any, ref: str) -> Any:
    import docker

    try:
        return h2.images.get(ref)
    except docker.errors.ImageNotFound:
        return None


def _make_on_h2(f: Fleet, name: str, image: str) -> Any:
    return devbox_cli(
        f.t.cli, "--host", "h2", "dockeruser", "make-dev-container", name, "--branch", "demo",
        "--image", image, "--no-checkout", "--json", timeout=1200,
    )  # fmt: skip


def _nothing_on_h2(f: Fleet, h2: Any, name: str, image: str) -> None:
    assert (
        json_of(devbox_cli(f.t.cli, "--host", "h2", "dockeruser", "list-containers", "--json"))
        == []
    )
    assert [c.name for c in h2.containers.list(all=True)] == []
    assert _h2_image(h2, image) is None
    assert not (Path(f.t.host["root"]) / "containers" / name).exists()


def test_a_host_without_the_image_pulls_it_from_the_private_registry(
    fleet: Fleet, engine: Any, dev_image: str
) -> None:
    from devbox.services import lab_host_registry as reg

    f, t = fleet, fleet.t
    local = t.env.full_env()
    up = devbox_cli(local, "registryserver", "up", "--json", timeout=600)
    assert json_of(up)["address"] == f.address
    added = run_devbox(
        ["registryserver", "user", "add", "alice", "--json"],
        local,
        timeout=120,
        cwd=None,
        input=PASSWORD + "\n",
    )
    assert json_of(added)["logged_in"], added.stdout
    published = json_of(
        devbox_cli(local, "containerauthor", "publish", "dev", "--json", timeout=1200)
    )
    assert published["registry"] == f.address and published["digest"].startswith("sha256:")

    # lab up again: h2 set up for the registry, as an admin sets up a real host
    again = devbox_cli(local, "common", "lab", "up", "--hosts", "2", timeout=300)
    assert again.returncode == 0, again.stderr
    home = Path(t.host["root"]).parent / "home"
    settings = (home / ".config" / "devbox" / "config.toml").read_text()
    assert f'address = "{f.address}"' in settings and "tls = true" in settings
    login = home / ".docker" / "config.json"
    assert login.stat().st_mode & 0o077 == 0
    assert list(json.loads(login.read_text())["auths"]) == [f.address]
    assert PASSWORD not in (Path(t.host["root"]).parent / "service.out").read_text()

    h2 = _h2_engine(t.host)
    name = f"dbxt{RUN_ID}gdev"
    try:
        assert _h2_image(h2, dev_image) is None  # h2's engine has no such image

        # refused: a wrong password on h2 (exit 4, one line), nothing left there
        right = login.read_text()
        login.write_text(reg.login_json(f.address, {"username": "alice", "password": "wrong-1"}))
        wrong = _make_on_h2(f, name, dev_image)
        assert_refused(wrong, 4, f"pull {f.address}/devbox/dev", hint="docker login")
        _nothing_on_h2(f, h2, name, dev_image)
        login.write_text(right)

        # refused: the registry down (exit 4), nothing left on h2; up again
        assert devbox_cli(local, "registryserver", "down").returncode == 0
        down = _make_on_h2(f, name, dev_image)
        assert_refused(down, 4, f"pull {f.address}/devbox/dev", hint="registryserver status")
        _nothing_on_h2(f, h2, name, dev_image)
        assert devbox_cli(local, "registryserver", "up", timeout=600).returncode == 0

        made = json_of(_make_on_h2(f, name, dev_image))
        assert made["name"] == name and made["ip"].startswith(t.env.prefix), made
        pulled = _h2_image(h2, dev_image)
        assert pulled is not None, "h2 has no image after the make"
        digests = pulled.attrs.get("RepoDigests") or []
        assert f"{f.address}/devbox/dev@{published['digest']}" in digests, digests
        on_h2 = json_of(
            devbox_cli(t.cli, "--host", "h2", "dockeruser", "list-containers", "--json")
        )
        assert [(r["name"], r["state"]) for r in on_h2] == [(name, "running")], on_h2
        fleet_rows = json_of(
            devbox_cli(t.cli, "dockeruser", "list-containers", "--all-hosts", "--json")
        )
        assert [(r["host"], r["ip"]) for r in fleet_rows if r["name"] == name] == [
            ("h2", made["ip"])
        ], fleet_rows
    finally:
        removed = _remove_on_h2(t, name)
        h2.close()
    assert removed.returncode == 0, removed.stderr


def _remove_on_h2(t: TwoHosts, name: str) -> Any:
    return devbox_cli(
        t.cli, "--host", "h2", "dockeruser", "remove-dev-container", name, "--purge", "--yes",
        timeout=300,
    )  # fmt: skip


def _expiry(f: Fleet, mac: str) -> int:
    """When the lab's dnsmasq lets the lease of ``mac`` go (0: it holds none)."""
    from devbox.model.lab_plan import parse_leases

    text = (f.t.env.root / "lab" / "dnsmasq.leases").read_text()
    return max((le.expires for le in parse_leases(text) if le.mac == mac.lower()), default=0)


def _renewed(f: Fleet, mac: str, after: int, what: str) -> int:
    """The lease of ``mac`` renewed past ``after`` (T1 is 15 s here)."""
    return wait_for(lambda: max(_expiry(f, mac) - after, 0) and _expiry(f, mac), 200, what, 1.0)


def test_leases_on_h2_are_renewed_after_its_service_restarts(
    fleet: Fleet, engine: Any, dev_image: str
) -> None:
    """A container's lease on h2 is renewed by h2's service, and again by the service that
    ``lab up`` starts after it stopped; h2's own address lease is renewed too (a host's DHCP
    client), so the lab's dnsmasq never hands h2's address to someone else."""
    f, t = fleet, fleet.t
    h2 = _h2_engine(t.host)
    if _h2_image(h2, dev_image) is None:  # run alone: what the registry test pulled
        load_image(engine, dev_image, t.host["docker_host"]).close()
    host_mac = t.host["mac"]
    name = f"dbxt{RUN_ID}glease"
    record = Path(t.host["root"]).parent / "host.json"
    try:
        made = json_of(_make_on_h2(f, name, dev_image))
        mac = made["mac"]
        first = _renewed(f, mac, 0, f"a lease of {name}")
        # h2's service stops (its containers run on); lab up starts it again
        old = json.loads(record.read_text())["service"]["pid"]
        os.kill(old, signal.SIGTERM)
        wait_for(lambda: not Path(f"/proc/{old}").exists(), 60, "h2's service to stop")
        again = devbox_cli(t.env.full_env(), "common", "lab", "up", "--hosts", "2", timeout=300)
        assert again.returncode == 0, again.stderr
        assert json.loads(record.read_text())["service"]["pid"] != old
        later = _renewed(f, mac, first, f"{name}'s lease renewed by h2's new service")
        _renewed(f, mac, later, f"{name}'s lease renewed again")
        # h2's own address: renewed like any host's, not left to run out
        own = _expiry(f, host_mac)
        assert own, "h2 holds no lease of the lab's dnsmasq"
        _renewed(f, host_mac, own, "h2's own lease renewed")
        on_h2 = json_of(
            devbox_cli(t.cli, "--host", "h2", "dockeruser", "list-containers", "--json")
        )
        assert [(r["name"], r["ip"]) for r in on_h2] == [(name, made["ip"])], on_h2
    finally:
        removed = _remove_on_h2(t, name)
        h2.close()
    assert removed.returncode == 0, removed.stderr
