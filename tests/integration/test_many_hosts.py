"""Many hosts (#15) on ``lab up --hosts 2``: ``hosts add/list``, ``--host h2`` over real SSH
(paramiko, the client's own key, host keys from its known_hosts only) to the simulated host's
own devbox service, the fleet view over both, and the refusals: a changed or unknown host key
(exit 3, no login happens), an unknown host name (exit 2), a stopped service (exit 3 for
``--host``, one row in the fleet view while this machine still lists).

On a lab of its own (tag ``w``, subnet 10.214.254.0/24: the shared ``lab`` fixture picks
3..252 and test_lab_hosts 253). Nothing leaves this machine: the only SSH target is the
simulated host's lab address, reached through the lab's shim.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devbox.model import labels
from tests.conftest import RUN_ID
from tests.fixtures.lab import busybox_container, devbox_cli
from tests.fixtures.two_hosts import TwoHosts, two_hosts_lab
from tests.fixtures.two_hosts import client_env as _env
from tests.fixtures.two_hosts import client_home as _client_home
from tests.fixtures.two_hosts import json_of as _json
from tests.fixtures.two_hosts import load_image as _load_image
from tests.refusals import assert_refused
from tests.waits import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SUBNET_OCTET = 254


def _accepted(host: dict[str, Any]) -> int:
    log = Path(host["root"]).parent / "ssh" / "sshd.log"
    return log.read_text(errors="replace").count("Accepted publickey") if log.exists() else 0


@pytest.fixture(scope="module")
def two_hosts(engine: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoHosts]:
    """``lab up --hosts 2``; the client's own key may log in as root on h2, whose host key is
    in the client's known_hosts; h2 added with ``hosts add`` (tests/fixtures/two_hosts.py)."""
    with two_hosts_lab(tmp_path_factory, "w", SUBNET_OCTET) as t:
        assert "[hosts.h2]" in (t.home / ".config" / "devbox" / "config.toml").read_text()
        yield t


def test_hosts_list_host_flag_and_the_fleet_view(
    two_hosts: TwoHosts, engine: Any, busybox_image: str
) -> None:
    from devbox import __version__

    t, host = two_hosts, two_hosts.host
    cli = t.cli
    listed = _json(devbox_cli(cli, "common", "hosts", "list", "--json"))
    assert [(r["name"], r["reachable"]) for r in listed] == [("h2", True)], listed
    assert listed[0]["version"] == __version__ and listed[0]["api"] == 1
    assert listed[0]["user"] == "root"
    assert listed[0]["memory"]["total"] > 0 and listed[0]["cpus"]["total"] >= 1
    assert listed[0]["containers"] == {"running": 0, "all": 0}

    # --host h2: h2's service answers (empty store), over SSH, logged in with our key
    logins = _accepted(host)
    assert _json(devbox_cli(cli, "--host", "h2", "dockeruser", "list-containers", "--json")) == []
    assert _accepted(host) > logins
    assert (
        _json(devbox_cli({**cli, "DEVBOX_HOST": "h2"}, "dockeruser", "list-containers", "--json"))
        == []
    )

    # a container on each host: h2's list shows its own only, the fleet view both
    h2 = _load_image(engine, busybox_image, host["docker_host"])
    h2_name, local_name = f"dbxt{RUN_ID}wh2", f"dbxt{RUN_ID}wlo"
    local_ctr = None
    try:
        h2_ctr = busybox_container(
            h2,
            busybox_image,
            h2_name,
            labels={labels.ROLE: "dockeruser", labels.ROOT: host["root"]},
        )
        local_ctr = busybox_container(
            engine,
            busybox_image,
            local_name,
            labels={labels.ROLE: "dockeruser", labels.ROOT: str(t.env.root)},
        )
        on_h2 = _json(devbox_cli(cli, "--host", "h2", "dockeruser", "list-containers", "--json"))
        assert [r["name"] for r in on_h2] == [h2_name]
        fleet = _json(devbox_cli(cli, "dockeruser", "list-containers", "--all-hosts", "--json"))
        assert [(r["host"], r["name"]) for r in fleet] == [
            ("local", local_name),
            ("h2", h2_name),
        ], fleet
        table = devbox_cli(cli, "dockeruser", "list-containers", "--all-hosts")
        assert table.returncode == 0 and h2_name in table.stdout and "local" in table.stdout
        hosts_now = _json(devbox_cli(cli, "common", "hosts", "list", "--json"))
        assert hosts_now[0]["containers"] == {"running": 1, "all": 1}
        h2_ctr.remove(force=True)
    finally:
        h2.close()
        if local_ctr is not None:
            local_ctr.remove(force=True)


def test_make_dev_container_on_h2_gets_a_lease_from_the_one_lab_dhcp(
    two_hosts: TwoHosts, engine: Any, dev_image: str
) -> None:
    """``--host h2 make-dev-container``: a job streamed over SSH, the container made by h2's
    service in h2's dockerd, its address a lease of the lab's one dnsmasq; this machine logs
    in to it with the client's own key; ``--host h2 remove-dev-container`` removes it."""
    import paramiko

    from devbox.model.lab_plan import parse_leases

    t, host = two_hosts, two_hosts.host
    _load_image(engine, dev_image, host["docker_host"]).close()
    name = f"dbxt{RUN_ID}wdev"
    made = devbox_cli(
        t.cli,
        "--host",
        "h2",
        "dockeruser",
        "make-dev-container",
        name,
        "--branch",
        "demo",
        "--image",
        dev_image,
        "--no-checkout",
        "--json",
        timeout=600,
    )
    try:
        result = _json(made)
        assert result["name"] == name and result["ip"].startswith(t.env.prefix)
        leases = parse_leases((t.env.root / "lab" / "dnsmasq.leases").read_text())
        assert [(le.hostname, le.mac) for le in leases if le.ip == result["ip"]] == [
            (name, result["mac"])
        ]
        fleet = _json(devbox_cli(t.cli, "dockeruser", "list-containers", "--all-hosts", "--json"))
        assert [(r["host"], r["ip"]) for r in fleet if r["name"] == name] == [("h2", result["ip"])]
        # the fleet's stats: h2's container, with its memory limit, under host h2
        shown = devbox_cli(t.cli, "dockeruser", "stats", "--all-hosts", "--no-size", "--json")
        stats = [r for r in _json(shown) if r["name"] == name]
        assert [r["host"] for r in stats] == ["h2"] and stats[0]["reachable"], stats
        assert stats[0]["memory_limit"], stats
        # run-on --all-hosts finds it where it lives (h2), and says of a name no host has
        ran = devbox_cli(
            t.cli,
            "dockeruser",
            "run-on",
            "--all-hosts",
            "--json",
            name,
            f"nosuch{RUN_ID}",
            "--",
            "hostname",
            timeout=300,
        )
        rows = {r["name"]: r for r in json.loads(ran.stdout or "[]")}
        assert rows[name]["host"] == "h2" and rows[name]["stdout"].strip() == name, rows
        assert not rows[f"nosuch{RUN_ID}"]["ok"] and ran.returncode == 4, rows
        # this machine reaches it on the lab LAN, as dev, with the client's own key
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        for line in result["host_keys"]:
            kind, b64 = line.split()[:2]
            client.get_host_keys().add(
                result["ip"], kind, paramiko.PKey.from_type_string(kind, _b64(b64))
            )
        client.connect(
            result["ip"],
            username="dev",
            key_filename=str(t.home / ".ssh" / "id_ed25519"),
            timeout=20,
            allow_agent=False,
            look_for_keys=False,
        )
        try:
            _, out, _ = client.exec_command("hostname", timeout=20)
            assert out.read().decode().strip() == name
        finally:
            client.close()
    finally:
        removed = devbox_cli(
            t.cli,
            "--host",
            "h2",
            "dockeruser",
            "remove-dev-container",
            name,
            "--purge",
            "--yes",
            timeout=300,
        )
    assert removed.returncode == 0, removed.stderr
    assert _json(devbox_cli(t.cli, "--host", "h2", "dockeruser", "list-containers", "--json")) == []


def test_refusals_changed_and_unknown_host_keys_unknown_name_stopped_service(
    two_hosts: TwoHosts, engine: Any, busybox_image: str
) -> None:
    from devbox.adapters import ssh

    t, host = two_hosts, two_hosts.host
    address = host["address"]
    # a host key that is not the known one: refused in the handshake, no login, exit 3
    changed = _client_home(t.base, "changed")
    ssh.ensure_keypair(changed / ".ssh" / "id_ed25519")
    _, other = ssh.generate_host_key("impostor")
    (changed / ".ssh" / "known_hosts").write_text(f"{address} {other}\n")
    (changed / ".config" / "devbox").mkdir(parents=True)
    (changed / ".config" / "devbox" / "config.toml").write_bytes(
        (t.home / ".config" / "devbox" / "config.toml").read_bytes()
    )
    logins = _accepted(host)
    refused = devbox_cli(
        _env(t.env, changed), "--host", "h2", "dockeruser", "list-containers", "--json"
    )
    assert_refused(refused, 3, "refused", hint="ssh-keygen -R")
    assert refused.stdout == ""
    # an unknown host (no key at all for it): exit 3 with how to learn the key
    (changed / ".ssh" / "known_hosts").write_text("")
    unknown = devbox_cli(_env(t.env, changed), "--host", "h2", "dockeruser", "list-containers")
    assert_refused(unknown, 3, "is not a known host", hint="ssh-keyscan")
    assert _accepted(host) == logins  # neither got as far as a login

    # an unknown host name: exit 2, nothing dialled
    alias = devbox_cli(t.cli, "--host", "nosuch", "dockeruser", "list-containers")
    assert_refused(alias, 2, "unknown host 'nosuch'", hint="hosts add")

    # h2's service stopped: --host h2 says so (exit 3), the fleet view still answers for local
    record = json.loads((Path(host["root"]).parent / "host.json").read_text())
    os.kill(record["service"]["pid"], signal.SIGTERM)
    wait_for(lambda: not Path(host["service_socket"]).exists(), 60, "h2's service to stop")
    down = devbox_cli(t.cli, "--host", "h2", "dockeruser", "list-containers")
    assert_refused(down, 3, "the devbox service is not running")
    hosts_now = _json(devbox_cli(t.cli, "common", "hosts", "list", "--json"))
    assert [(r["name"], r["reachable"]) for r in hosts_now] == [("h2", False)]
    local_name = f"dbxt{RUN_ID}wl2"
    local_ctr = busybox_container(
        engine,
        busybox_image,
        local_name,
        labels={labels.ROLE: "dockeruser", labels.ROOT: str(t.env.root)},
    )
    try:
        fleet = devbox_cli(t.cli, "dockeruser", "list-containers", "--all-hosts", "--json")
    finally:
        local_ctr.remove(force=True)
    rows = _json(fleet)
    assert [(r["host"], r["name"], r["reachable"]) for r in rows] == [
        ("local", local_name, True),
        ("h2", None, False),
    ], rows
    assert "not running" in rows[1]["error"]

    removed = devbox_cli(t.cli, "common", "hosts", "remove", "h2")
    assert removed.returncode == 0, removed.stderr
    assert _json(devbox_cli(t.cli, "common", "hosts", "list", "--json")) == []


def _b64(text: str) -> bytes:
    import base64

    return base64.b64decode(text)
