"""How the host reaches a container behind macvlan: directly, via the shim, or in its netns."""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING

from devbox.config import Config
from devbox.errors import DevboxError, OperationFailed, UserError
from devbox.services.nic import check_parent, store

if TYPE_CHECKING:
    pass


def host_connector(cfg: Config, container: str) -> Callable[[str, int, float], socket.socket]:
    """A socket factory ``(host, port, timeout) -> socket`` reaching ``container``: a plain
    TCP connection through the host shim when there is one, else a socket created inside the
    container's netns. Failures raise OSError (as ``socket.create_connection`` does)."""
    from devbox.adapters.docker import net
    from devbox.adapters.net import netns

    direct: dict[str, bool] = {}  # decided once per address: callers retry in tight loops

    def connect(host: str, port: int, timeout: float) -> socket.socket:
        if host not in direct:
            direct[host] = reachable_directly(host)
        if direct[host]:
            return socket.create_connection((host, port), timeout=timeout)
        facts = net.inspect(container)
        if facts is None or not facts.running:
            raise ConnectionRefusedError(f"container {container} is not running")
        try:
            return netns.connect_in_netns(facts.pid, host, port, timeout)
        except DevboxError as err:
            raise ConnectionError(err.message) from err

    return connect


def reachable_directly(ip: str) -> bool:
    """Whether the host reaches ``ip`` on the link of a devbox shim (a macvlan that is up), so
    plain sockets work: one route lookup in the kernel."""
    import ipaddress

    from devbox.adapters.net import netlink

    try:
        ipaddress.IPv4Address(ip)
    except ValueError:
        return False
    found = netlink.route_link(ip)
    if found is None:
        return False
    link, on_link = found
    return on_link and link.kind == "macvlan" and link.up


def lan_address(cfg: Config, container: str, ifname: str | None = None) -> str:
    """``container``'s LAN address from devbox's own lease records (never the container's)."""
    recs = [
        r
        for r in store(cfg).for_container(container)
        if r.ip and (ifname is None or r.ifname == ifname)
    ]
    if not recs:
        raise UserError(
            f"container {container} has no LAN address",
            hint=f"devbox common net attach {container}",
        )
    return recs[0].ip or ""


def connect(
    cfg: Config, container: str, port: int = 22, timeout: float = 5.0, ifname: str | None = None
) -> socket.socket:
    """A connected TCP socket to ``container``'s LAN address: directly through the host shim
    when there is one, else created inside the container's netns. For paramiko's ``sock=``."""
    ip = lan_address(cfg, container, ifname)
    try:
        return host_connector(cfg, container)(ip, port, timeout)
    except OSError as err:
        raise OperationFailed(
            f"cannot connect to {container} at {ip}:{port}: {err.strerror or err}"
        ) from err


def ensure_shim(cfg: Config) -> str | None:
    """For a real parent with ``shim_address`` set: make sure the host-side macvlan shim exists
    with that address, so the host reaches its containers. Returns the shim name."""
    from devbox.adapters.net import netlink
    from devbox.model.lab_plan import shim_name

    parent = cfg.text("parent")
    cidr = cfg.text("shim_address")
    if not parent or not cidr or parent == cfg.text("lab.uplink"):
        return None
    import ipaddress

    try:
        iface = ipaddress.IPv4Interface(cidr)
    except ValueError as err:
        raise UserError(
            f"shim_address {cidr}: {err}",
            hint="set shim_address to a free address on the LAN, e.g. 192.168.1.250/24",
        ) from None
    from devbox.adapters.net import addresses6

    name = shim_name(parent)
    if netlink.get_link(name) is None:
        check_parent(cfg, parent)
        try:
            netlink.create_macvlan(parent, name)
        except DevboxError as err:
            if getattr(err, "code", 0) != errno.EEXIST:
                raise
    # the shim shares the LAN with the containers, whose root may send router advertisements
    # (CAP_NET_RAW): it takes none (no address, no route from them); the host's own NIC keeps
    # its IPv6 as it is
    addresses6.configure_lab_link(name, addresses6.NO_RA)  # before it is up
    addresses6.drop_autoconf(name)
    netlink.set_up(name)
    netlink.add_address(name, str(iface.ip), iface.network.prefixlen)
    return name


def proxy_command(cfg: Config, name: str) -> str:
    """The ssh ProxyCommand that reaches ``name`` through its network namespace; it names the
    devbox root when it is not the default one (the lease record lives there)."""
    import shlex

    from devbox.model import labels as L

    root = "" if str(cfg.root) == L.DEFAULT_ROOT else f"--root {shlex.quote(str(cfg.root))} "
    return f"devbox {root}common net connect {name} %p"


def relay_stdio(cfg: Config, container: str, port: int = 22) -> None:
    """Relay this process's stdin/stdout to ``container``'s LAN address (an ssh
    ProxyCommand): through the shim, or a socket opened inside its network namespace."""
    from devbox.adapters.net import relay

    relay.stdio(connect(cfg, container, port))
