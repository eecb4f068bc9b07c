"""Docker labels devbox puts on (or reads from) containers whose LAN interface it plumbs.

A container carrying ``devbox.net`` is devbox-networked: ``devbox common daemon`` (re)plumbs its
LAN interface on every start, with the same MAC, so it gets the same address back. The other
labels spell out the interface; any of them may be left out (defaults: the configured/lab parent,
a MAC derived from the container name, the ``ifname`` setting, DHCP).
"""

from __future__ import annotations

from collections.abc import Mapping

NET = "devbox.net"  # "dhcp" or "static"
NET_PARENT = "devbox.net.parent"  # macvlan parent NIC
NET_VLAN = "devbox.net.vlan"  # 802.1Q id, 1-4094
NET_MAC = "devbox.net.mac"  # aa:bb:cc:dd:ee:ff
NET_IFNAME = "devbox.net.ifname"  # interface name inside the container
NET_IP = "devbox.net.ip"  # CIDR, static mode only
NET_GATEWAY = "devbox.net.gateway"  # static mode only
NET_MTU = "devbox.net.mtu"

ALL = (NET, NET_PARENT, NET_VLAN, NET_MAC, NET_IFNAME, NET_IP, NET_GATEWAY, NET_MTU)


def net_labels(
    *,
    mode: str = "dhcp",
    parent: str | None = None,
    vlan: int | None = None,
    mac: str | None = None,
    ifname: str | None = None,
    ip: str | None = None,
    gateway: str | None = None,
    mtu: int | None = None,
) -> dict[str, str]:
    """Labels that make a container devbox-networked (for ``containers.create(labels=...)``)."""
    out = {NET: mode}
    for key, value in (
        (NET_PARENT, parent),
        (NET_VLAN, vlan),
        (NET_MAC, mac),
        (NET_IFNAME, ifname),
        (NET_IP, ip),
        (NET_GATEWAY, gateway),
        (NET_MTU, mtu),
    ):
        if value not in (None, ""):
            out[key] = str(value)
    return out


def is_networked(labels: Mapping[str, str] | None, root: str | None = None) -> bool:
    """Whether a container is devbox-networked (and, given ``root``, belongs to the devbox
    root that path names: a container labelled with another root is that root's daemon's)."""
    if not labels or labels.get(NET, "") not in {"dhcp", "static"}:
        return False
    # a container labelled by hand without devbox.root belongs to the default root's daemon
    # only: with several roots on one engine, every daemon would otherwise claim it
    return root is None or (labels.get(ROOT) or DEFAULT_ROOT) == root


ROOT = "devbox.root"  # the devbox root (state dir) that made the container
DEFAULT_ROOT = "/opt/containers"  # the 'root' setting's default (devbox/config.py)


# ---- what devbox-made containers carry besides the network labels (owned by services/containers)
PREFIX = "devbox."
ROLE = "devbox.role"  # "dockeruser": marks every devbox-made container
KIND = "devbox.kind"  # dev | os | clone | combo
BRANCH = "devbox.branch"
IMAGE = "devbox.image"
OS = "devbox.os"
CREATED_BY = "devbox.created-by"  # user@host
OWNER = "devbox.owner"  # the user who made it (made through the service: the caller)
OWNER_UID = "devbox.owner-uid"  # that user's uid; a container without one is root's
DEVBOX_VERSION = "devbox.version"
OPT_DIR = "devbox.opt"  # host path bind-mounted at /opt
USER = "devbox.user"  # who SSH logs in as: dev (dev images) or root (vanilla OS images)
REVISION = "devbox.revision"  # commit or changelist checked out at make time
CLONE_OF = "devbox.clone-of"
SNAPSHOT = "devbox.snapshot"
PRODUCT = "devbox.product"
RELEASE = "devbox.release"
PATCHES = "devbox.patches"
TEST_RUN = "devbox.test-run"  # set by the test suite on what it creates
LIMIT_MEMORY = "devbox.limits.memory"  # bytes (devbox/model/limits.py)
LIMIT_CPUS = "devbox.limits.cpus"
LIMIT_PIDS = "devbox.limits.pids"
KEEP_RUNNING = "devbox.keep-running"  # "true": made with --keep-running, never idle-stopped


def keeps_running(labels: Mapping[str, str]) -> bool:
    """Whether a container opted out of idle stop (``make-dev-container --keep-running``)."""
    return labels.get(KEEP_RUNNING, "").strip().lower() in {"true", "1", "yes"}


# compatibility names used by services/containers
PARENT = NET_PARENT
VLAN = NET_VLAN
MAC = NET_MAC
IFNAME = NET_IFNAME
