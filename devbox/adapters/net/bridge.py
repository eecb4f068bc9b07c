"""Bridges and the veth pairs that join two network namespaces (the lab's simulated hosts).

Built on :mod:`devbox.adapters.net.netlink` (its session, error translation and lookups); every
function takes the namespace it works in (a path such as ``/var/run/netns/NAME``) and never
touches the host's own namespace.
"""

from __future__ import annotations

import errno
from pathlib import Path

from devbox.adapters.net import netns as nsmod
from devbox.adapters.net.netlink import (
    NetlinkFailed,
    call,
    delete_link,
    in_netns,
    index_of,
    session,
)


def create_bridge(name: str, netns: Path | str, mac: str | None = None) -> bool:
    """A bridge ``name`` (no STP: ports forward at once), brought up; False if it existed.
    ``mac`` pins its address (else it follows the lowest of its ports' as they come and go)."""

    def work() -> bool:
        with session() as ipr:
            try:
                idx = index_of(ipr, name)
                made = False
            except NetlinkFailed:
                spec = {"ifname": name, "kind": "bridge", **({"address": mac} if mac else {})}
                call(f"create bridge {name}", lambda: ipr.link("add", **spec))
                idx = index_of(ipr, name)
                made = True
            call(f"bring up {name}", lambda: ipr.link("set", index=idx, state="up"))
            return made

    return in_netns(netns, work)


def master_of(name: str, netns: Path | str) -> str:
    """Name of the bridge ``name`` is a port of; "" when none (or ``name`` is missing)."""

    def work() -> str:
        with session() as ipr:
            try:
                idx = index_of(ipr, name)
            except NetlinkFailed:
                return ""
            msg = call(f"look up {name}", lambda: ipr.link("get", index=idx))[0]
            master = int(msg.get("IFLA_MASTER") or 0)
            if not master:
                return ""
            up = call(f"look up interface {master}", lambda: ipr.link("get", index=master))
            return str(up[0].get("IFLA_IFNAME") or "")

    return in_netns(netns, work)


def enslave(port: str, bridge: str, netns: Path | str) -> None:
    """Make ``port`` a port of ``bridge`` (idempotent) and bring it up."""

    def work() -> None:
        with session() as ipr:
            pidx, bidx = index_of(ipr, port), index_of(ipr, bridge)
            call(
                f"add {port} to bridge {bridge}",
                lambda: ipr.link("set", index=pidx, master=bidx, state="up"),
            )

    in_netns(netns, work)


def delete_address(name: str, address: str, prefixlen: int, netns: Path | str) -> bool:
    """Remove ``address/prefixlen`` from ``name``; False when it was not there."""

    def work() -> bool:
        with session() as ipr:
            try:
                idx = index_of(ipr, name)
            except NetlinkFailed:
                return False
            try:
                call(
                    f"remove address {address}/{prefixlen} from {name}",
                    lambda: ipr.addr("del", index=idx, address=address, prefixlen=prefixlen),
                )
            except NetlinkFailed as err:
                if err.code in (errno.EADDRNOTAVAIL, errno.ENOENT, errno.ENODEV):
                    return False
                raise
            return True

    return in_netns(netns, work)


def create_veth_between(port: str, port_netns: str, peer: str, peer_netns: str, mac: str) -> None:
    """A veth pair made in named netns ``port_netns`` (end ``port``) whose other end ``peer``
    (MAC ``mac``) is born in named netns ``peer_netns``; both come up. Nothing of it is ever
    in the host's namespace. On failure neither end is left."""
    port_path, peer_path = nsmod.named_path(port_netns), nsmod.named_path(peer_netns)

    def make() -> None:
        with session() as ipr:
            call(
                f"create veth pair {port} ({port_netns}) - {peer} ({peer_netns})",
                lambda: ipr.link(
                    "add",
                    ifname=port,
                    kind="veth",
                    peer={"ifname": peer, "address": mac, "net_ns_fd": str(peer_path)},
                ),
            )
            try:
                idx = index_of(ipr, port)
                call(f"bring up {port}", lambda: ipr.link("set", index=idx, state="up"))
            except BaseException:
                for i in ipr.link_lookup(ifname=port):
                    ipr.link("del", index=i)
                raise

    def peer_up() -> None:
        with session() as ipr:
            idx = index_of(ipr, peer)
            call(f"bring up {peer}", lambda: ipr.link("set", index=idx, state="up"))

    nsmod.run_in(port_path, make)
    try:
        nsmod.run_in(peer_path, peer_up)
    except BaseException:
        delete_link(port, port_path)
        raise
