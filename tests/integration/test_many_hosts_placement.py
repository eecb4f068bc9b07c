"""Many hosts (#15): ``make-dev-container --host auto`` on ``lab up --hosts 2`` picks the host
the container fits (this machine, ``local``, gives one container less than asked: its
``limits.host_reserve`` is set near its whole memory, so h2 wins, and the make runs there);
the SSH entry written for it goes through h2 (``jump = true``: ProxyJump to h2's alias entry,
h2's host key from the client's known_hosts, the client's own key) and real ``ssh NAME``
logs in through h2's sshd, as does ``devbox --host h2 dockeruser ssh NAME``. A request no
host can take is exit 2 naming each host's reason, and nothing is made.

On a lab of its own (tag ``p``, subnet 10.214.2.0/24: the shared ``lab`` fixture picks
3..252, test_lab_hosts 253, test_many_hosts 254). Nothing leaves this machine: every SSH
target is a lab address (h2's, and the container's reached from h2's netns through a shim
this test adds there, as a real host reaches its macvlan containers).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from devbox.model import limits
from tests.conftest import RUN_ID
from tests.fixtures.lab import LabEnv, devbox_cli
from tests.fixtures.two_hosts import TwoHosts, two_hosts_lab
from tests.fixtures.two_hosts import json_of as _json
from tests.fixtures.two_hosts import load_image as _load_image
from tests.integration.test_many_hosts import _accepted
from tests.refusals import assert_refused

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SUBNET_OCTET = 2
SHIM_HOST = 61  # h2's shim address on the lab LAN: below the DHCP range (.100-.250)
SMALL = 512 << 20  # the most this machine gives one container in this test


def _local_reserve() -> str:
    """``limits.host_reserve`` for this machine: its whole memory less :data:`SMALL`."""
    from devbox.adapters.host import procfs

    return str(procfs.host_size().memory - SMALL)


@pytest.fixture(scope="module")
def two_hosts(engine: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoHosts]:
    """h2 and the client on this test's lab (tests/fixtures/two_hosts.py), this machine
    giving one container :data:`SMALL` at most, h2's ``jump = true``."""
    import tomllib

    import tomli_w

    reserve = {"DEVBOX_LIMITS_HOST_RESERVE": _local_reserve()}  # this machine only
    with two_hosts_lab(tmp_path_factory, "p", SUBNET_OCTET, local_env=reserve) as t:
        config = t.home / ".config" / "devbox" / "config.toml"
        doc = tomllib.loads(config.read_text())
        doc["hosts"]["h2"]["jump"] = True  # this machine reaches the lab directly: force it
        config.write_text(tomli_w.dumps(doc))
        yield t


def _shim_in_host(env: LabEnv, host: dict[str, Any], container_ip: str) -> None:
    """h2 reaches its container as a real host does: a macvlan shim on its uplink (h2's own
    netns only) with a /32 route to the container through it."""
    import pyroute2

    from devbox.adapters.net import netlink, netns

    shim_ip = f"{env.prefix}{SHIM_HOST}"

    def work() -> None:
        with pyroute2.IPRoute() as ipr:
            lan = ipr.link_lookup(ifname="lan0")[0]
            ipr.link("add", ifname="shimp", kind="macvlan", link=lan, macvlan_mode="bridge")
            idx = ipr.link_lookup(ifname="shimp")[0]
            ipr.addr("add", index=idx, address=shim_ip, prefixlen=32)
            ipr.link("set", index=idx, state="up")
            ipr.route("add", dst=f"{container_ip}/32", oif=idx, prefsrc=shim_ip)

    netlink.in_netns(netns.named_path(host["netns"]), work)


def _ssh(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, check=False)


def test_host_auto_lands_where_it_fits_and_ssh_goes_through_that_host(
    two_hosts: TwoHosts, engine: Any, dev_image: str
) -> None:
    t, host = two_hosts, two_hosts.host
    _load_image(engine, dev_image, host["docker_host"]).close()
    name = f"dbxt{RUN_ID}pauto"
    made = devbox_cli(
        t.cli, "--host", "auto", "dockeruser", "make-dev-container", name,
        "--branch", "demo", "--image", dev_image, "--no-checkout", "--memory", "1g", "--json",
        timeout=600,
    )  # fmt: skip
    try:
        result = _json(made)
        assert result["host"] == "h2" and result["name"] == name, result
        assert result["placement"]["skipped"] == {
            "local": f"memory 1g is more than it gives one container ({limits.human(SMALL)})"
        }
        assert "--host auto: h2 (most free memory" in made.stderr
        assert result["ip"].startswith(t.env.prefix)
        on_h2 = _json(devbox_cli(t.cli, "--host", "h2", "dockeruser", "list-containers", "--json"))
        assert [r["name"] for r in on_h2] == [name]
        local = _json(devbox_cli(t.cli, "dockeruser", "list-containers", "--json"))
        assert name not in [r["name"] for r in local]

        # the entry: through h2's alias, h2's key from the client's known_hosts, own key
        entries = t.home / ".ssh" / "config.d" / "devbox"
        text = entries.read_text()
        box = text.split(f"# <<< devbox {name}")[0].split(f"# >>> devbox {name}")[1]
        assert f"HostName {result['ip']}" in box and "ProxyJump devbox-host-h2" in box
        jump = text.split("# >>> devbox devbox-host-h2")[1]
        assert f"HostName {host['address']}" in jump and "User root" in jump
        assert f"UserKnownHostsFile {t.home / '.ssh' / 'known_hosts'}" in jump

        # real ssh, BatchMode, through h2's sshd (its log counts the login)
        _shim_in_host(t.env, host, result["ip"])
        logins = _accepted(host)
        out = _ssh(["ssh", "-F", str(entries), "-o", "BatchMode=yes", name, "hostname"], t.cli)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == name
        assert _accepted(host) > logins  # the hop went through h2
        # devbox's own ssh over --host writes and uses the same entry
        again = devbox_cli(t.cli, "--host", "h2", "dockeruser", "ssh", name, "--", "hostname")
        assert again.returncode == 0, again.stderr
        assert again.stdout.strip() == name
    finally:
        removed = devbox_cli(
            t.cli, "--host", "h2", "dockeruser", "remove-dev-container", name, "--purge", "--yes",
            timeout=300,
        )  # fmt: skip
    assert removed.returncode == 0, removed.stderr


def test_host_auto_with_no_host_that_fits_is_exit_2_naming_each_host(
    two_hosts: TwoHosts, dev_image: str
) -> None:
    t = two_hosts
    name = f"dbxt{RUN_ID}pnone"
    refused = devbox_cli(
        t.cli, "--host", "auto", "dockeruser", "make-dev-container", name,
        "--branch", "demo", "--image", dev_image, "--no-checkout", "--memory", "4t",
    )  # fmt: skip
    assert_refused(refused, 2, "--host auto: no host fits memory 4t", hint="--memory")
    assert "local: memory 4t is more than it gives one container" in refused.stderr
    assert "h2: memory 4t is more than it gives one container" in refused.stderr
    for where in ([], ["--host", "h2"]):
        rows = _json(devbox_cli(t.cli, *where, "dockeruser", "list-containers", "--json"))
        assert name not in [r["name"] for r in rows]
    # --host auto is for the makes only
    other = devbox_cli(t.cli, "--host", "auto", "dockeruser", "list-containers")
    assert_refused(other, 2, "--host auto picks a host for make-dev-container")
