"""IPv6 on the lab LAN: the lab's dnsmasq advertises its unique local prefix, a dev container
gets a SLAAC address in it, and ``list-containers`` and ``net show`` (JSON and text) show it,
read by the host from the kernel (netlink in the container's namespace), never from a file.
A container's root that sends router advertisements of its own (CAP_NET_RAW) gives the host
no address and no route."""

from __future__ import annotations

import ipaddress
import json
import socket
from pathlib import Path
from typing import Any

import pytest

from devbox.adapters.net import addresses6
from tests.fixtures.devcontainers import DevEnv
from tests.integration.test_dev_containers import cli, make
from tests.waits import wait_for

pytestmark = pytest.mark.integration

LAN = "lan0"  # the ifname setting's default


def listed_row(devenv: DevEnv, name: str) -> dict[str, Any]:
    result = cli(devenv, "dockeruser", "list-containers", "--json", "--no-size", timeout=120)
    assert result.returncode == 0, result.stderr
    return {r["name"]: r for r in json.loads(result.stdout)}[name]


def net_rows(devenv: DevEnv, name: str) -> list[dict[str, Any]]:
    result = cli(devenv, "common", "net", "show", name, "--json", timeout=120)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert isinstance(rows, list)
    return rows


def kernel_addresses(ctr: Any) -> set[str]:
    """The container's IPv6 addresses on its LAN link as its kernel lists them (the test's
    own cross-check; devbox never reads this file)."""
    code, out = ctr.exec_run(["cat", "/proc/net/if_inet6"])
    assert code == 0, out
    found = set()
    for line in out.decode().splitlines():
        hexaddr, _idx, _plen, _scope, _flags, ifname = line.split()
        if ifname == LAN:
            found.add(str(ipaddress.IPv6Address(bytes.fromhex(hexaddr))))
    return found


def eui64(prefix: ipaddress.IPv6Network, mac: str) -> ipaddress.IPv6Address:
    octets = bytearray(bytes.fromhex(mac.replace(":", "")))
    octets[0] ^= 0x02
    iid = bytes(octets[:3]) + b"\xff\xfe" + bytes(octets[3:])
    return ipaddress.IPv6Address(int(prefix.network_address) | int.from_bytes(iid, "big"))


def test_lab_container_gets_a_ula_address_that_listings_show(devenv: DevEnv, engine: Any) -> None:
    from devbox.services import lab as labsvc

    assert addresses6.kernel_has_ipv6(), "this kernel has no IPv6 (/proc/sys/net/ipv6)"
    status = labsvc.status(devenv.cfg())
    assert status.up and status.ipv6_prefix, status
    prefix = ipaddress.IPv6Network(status.ipv6_prefix)
    assert prefix.prefixlen == 64 and prefix.subnet_of(ipaddress.IPv6Network("fc00::/7"))
    lab_json = cli(devenv, "common", "lab", "status", "--json")
    assert lab_json.returncode == 0, lab_json.stderr
    assert json.loads(lab_json.stdout)["ipv6_prefix"] == str(prefix)

    name = devenv.name("v6")
    summary = make(devenv, name, "--no-checkout")
    ctr = engine.containers.get(name)

    def in_prefix() -> list[str]:
        row = listed_row(devenv, name)
        return [a for a in row["ipv6"] if ipaddress.IPv6Address(a) in prefix]

    shown = wait_for(in_prefix, 90, f"a SLAAC address in {prefix} in list-containers", 1.0)
    row = listed_row(devenv, name)
    # the IPv4 fields as they were; IPv6 global/ULA only, never link-local
    assert row["ip"] == summary["ip"] and row["mac"] == summary["mac"]
    assert all(not ipaddress.IPv6Address(a).is_link_local for a in row["ipv6"]), row
    # SLAAC from the lab's advertisement: the prefix plus the interface ID of devbox's MAC
    assert str(eui64(prefix, summary["mac"])) in shown, (shown, summary["mac"])
    # the kernel of the container has exactly that address on its LAN link
    assert set(shown) <= kernel_addresses(ctr)
    # router lifetime 0: the lab is nobody's default router (no IPv6 default route)
    code, routes = ctr.exec_run(["cat", "/proc/net/ipv6_route"])
    assert code == 0
    default = [r for r in routes.decode().splitlines() if r.startswith("0" * 32 + " 00 ")]
    assert not [r for r in default if r.split()[-1] == LAN], default

    # net show --json: the same address with its prefix length; the text table shows it too
    (att,) = [a for a in net_rows(devenv, name) if a["ifname"] == LAN]
    assert f"{shown[0]}/64" in att["ipv6"], att
    assert att["ip"] == summary["ip"] and "cidr" not in att
    table = cli(devenv, "common", "net", "show", name)
    assert table.returncode == 0, table.stderr
    assert f"{shown[0]}/64" in table.stdout, table.stdout
    listing = cli(devenv, "dockeruser", "list-containers", "--no-size")
    assert listing.returncode == 0, listing.stderr
    assert shown[0] in listing.stdout, listing.stdout

    # the address works on the lab LAN: from the lab's namespace (another machine on the LAN)
    # to the container's sshd over IPv6
    from devbox.adapters.net import netns

    def banner() -> bytes:
        with socket.create_connection((shown[0], 22), timeout=5) as sock:
            return sock.recv(64)

    assert netns.run_in(netns.named_path(devenv.lab.name), banner).startswith(b"SSH-")
    # and from the host, through the shim's fixed lab address (P::2), as over IPv4
    assert status.shim_ipv6 == f"{prefix.network_address + 2}/64"
    assert banner().startswith(b"SSH-")


# a rogue router advertisement, sent from inside a container by its root (CAP_NET_RAW, which
# Docker gives every container): prefix 2001:db8:bad::/64 (documentation space), autonomous,
# router lifetime 0 (never a default route: the host's real routes are never at stake)
ROGUE_PREFIX = "2001:db8:bad::"
ROGUE_RA = f"""
import socket, struct, time
idx = socket.if_nametoindex("{LAN}")
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, idx)
ra = struct.pack("!BBHBBHII", 134, 0, 0, 64, 0, 0, 0, 0)
pio = struct.pack("!BBBBIII", 3, 4, 64, 0xC0, 600, 600, 0)
pio += socket.inet_pton(socket.AF_INET6, "{ROGUE_PREFIX}")
for _ in range(5):
    for _ in range(100):  # until lan0's link-local address is past DAD (EADDRNOTAVAIL before)
        try:
            s.sendto(ra + pio, ("ff02::1", 0, 0, idx))
            break
        except OSError as err:
            if err.errno != 99:
                raise
            time.sleep(0.1)
    time.sleep(0.5)
"""


def host_addresses(ifname: str) -> set[str]:
    """IPv6 addresses of the host's interface ``ifname`` (read-only: /proc/net/if_inet6)."""
    found = set()
    for line in Path("/proc/net/if_inet6").read_text().splitlines():
        hexaddr, *_, name = line.split()
        if name == ifname:
            found.add(str(ipaddress.IPv6Address(bytes.fromhex(hexaddr))))
    return found


def test_hostile_root_cannot_give_the_host_addresses_or_routes(devenv: DevEnv, engine: Any) -> None:
    """A container's root sends router advertisements of its own on the LAN. A neighbour
    container takes the rogue prefix (a LAN without RA guard: proof the attack is real), but
    the host's lab interfaces take no address and no route from it, nor does the lab's server:
    the shim has just its fixed lab address (P::2), the uplink no IPv6 address at all."""
    from devbox.adapters.net import netns
    from devbox.services import lab as labsvc

    status = labsvc.status(devenv.cfg())
    prefix = ipaddress.IPv6Network(status.ipv6_prefix)
    rogue = ipaddress.IPv6Network(ROGUE_PREFIX + "/64")
    attacker, neighbour = devenv.name("v6a"), devenv.name("v6n")
    make(devenv, attacker, "--no-checkout")
    make(devenv, neighbour, "--no-checkout")
    code, out = engine.containers.get(attacker).exec_run(["python3", "-c", ROGUE_RA])
    assert code == 0, out

    def neighbour_took_it() -> list[str]:
        got = listed_row(devenv, neighbour)["ipv6"]
        return [a for a in got if ipaddress.IPv6Address(a) in rogue]

    wait_for(neighbour_took_it, 60, "the rogue prefix on the neighbour container", 1.0)
    shim = {a for a in host_addresses(status.shim) if not ipaddress.IPv6Address(a).is_link_local}
    assert shim == {str(prefix.network_address + 2)}, shim
    assert not host_addresses(status.uplink), host_addresses(status.uplink)
    routes = Path("/proc/net/ipv6_route").read_text().splitlines()
    rogue_hex = rogue.network_address.packed.hex()
    assert not [r for r in routes if r.startswith(rogue_hex)], "a host route to the rogue prefix"
    lab_ns = netns.run_in(
        netns.named_path(devenv.lab.name),
        lambda: Path("/proc/thread-self/net/if_inet6").read_text(),  # the thread's netns
    )
    assert rogue.network_address.packed.hex()[:12] not in lab_ns, lab_ns
