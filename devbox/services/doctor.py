"""Host readiness checks: each returns OK/FAIL with the fix."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from devbox.adapters.host.kernel import kernel_has
from devbox.config import Config
from devbox.model.checks import Check


def _cap_eff() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return int(line.split()[1], 16)
    return 0


CAP_NET_ADMIN = 12
CAP_SYS_ADMIN = 21


def check_privileges() -> Check:
    caps = _cap_eff()
    have = all(caps & (1 << c) for c in (CAP_NET_ADMIN, CAP_SYS_ADMIN))
    who = "root" if os.geteuid() == 0 else f"uid {os.geteuid()}"
    if have:
        return Check("privileges", True, f"{who} with CAP_NET_ADMIN and CAP_SYS_ADMIN")
    return Check(
        "privileges",
        False,
        f"{who} lacks CAP_NET_ADMIN/CAP_SYS_ADMIN",
        "run devbox as root (sudo devbox ...)",
    )


def check_kernel() -> list[Check]:
    out = []
    for feature, what in (("MACVLAN", "macvlan"), ("OVERLAY_FS", "overlayfs"), ("VETH", "veth")):
        ok = kernel_has(feature)
        out.append(
            Check(
                f"kernel {what}",
                ok,
                "supported" if ok else "missing",
                "" if ok else f"use a kernel with CONFIG_{feature} (or modprobe it)",
            )
        )
    vlan = kernel_has("VLAN_8021Q")
    out.append(
        Check(
            "kernel 802.1Q VLAN",
            vlan,
            "supported" if vlan else "missing",
            ""
            if vlan
            else "modprobe 8021q, or use a kernel with CONFIG_VLAN_8021Q (needed only for --vlan)",
            needed=False,
        )
    )
    return out


def check_program(program: str, package: str, name: str | None = None) -> Check:
    found = shutil.which(program) or shutil.which(program, path="/usr/sbin:/sbin")
    if found:
        return Check(name or program, True, found)
    return Check(
        name or program, False, f"{program}: not installed", f"apt-get install -y {package}"
    )


def check_root_writable(root: Path) -> Check:
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root, prefix=".doctor-"):
            pass
    except OSError as err:
        return Check(
            "root writable",
            False,
            f"{root}: {err.strerror}",
            f"create {root} and make it writable, or set 'root' (DEVBOX_ROOT)",
        )
    return Check("root writable", True, str(root))


def check_docker() -> Check:
    from devbox.adapters.docker import engine

    try:
        version = engine.engine_version()
    except Exception as err:  # noqa: BLE001 - any failure is 'not reachable'
        return Check(
            "docker engine",
            False,
            f"not reachable: {err}",
            "apt-get install -y docker.io && systemctl start docker (or run 'dockerd &')",
        )
    return Check("docker engine", True, f"version {version}")


def check_parent(cfg: Config) -> Check:
    from devbox.services import lab

    return lab.check_parent(cfg)


def check_registry(cfg: Config) -> Check | None:
    address = cfg.text("registry.address")
    if not address:
        return None
    from devbox.services import registry_site

    return registry_site.check_reachable(cfg)


def check_reflink(root: Path) -> Check:
    """Whether clone snapshots of /opt share blocks (reflinks) under the root, or are one full
    copy each (optional: clones work either way)."""
    from devbox.adapters.host import mounts

    try:
        shared = mounts.reflink_supported(root)
    except OSError as err:
        return Check("clone snapshots", False, f"{root}: {err.strerror}", needed=False)
    if shared:
        return Check(
            "clone snapshots",
            True,
            f"{root} shares blocks (reflink): a clone's /opt costs only what it writes",
        )
    return Check(
        "clone snapshots",
        False,
        f"{root} has no reflinks: each clone run copies /opt once",
        f"for copy-free clones put {root} on XFS (mkfs.xfs -m reflink=1) or btrfs",
        needed=False,
    )


def check_inotify() -> Check:
    """Room for VM-style containers: each systemd container holds inotify instances, capped
    per user by the kernel (a stock host fits about 15-18 of them)."""
    from devbox.adapters.host import procfs
    from devbox.model import capacity

    room = procfs.inotify_room()
    ok = room.limit >= capacity.SUGGESTED_LIMIT or room.containers >= 20
    return Check(
        "inotify instances",
        ok,
        room.describe(),
        "" if ok else f"to run 20+ containers (e.g. clone --count 20): {capacity.FIX}",
        needed=room.containers == 0,
    )


def check_promised(cfg: Config) -> Check:
    """How much of the host the running devbox containers of this root are promised (their
    memory and CPU limits added up); over 100 % is allowed (limits are caps, not
    reservations) but worth knowing on a shared host."""
    from devbox.adapters.docker import containers as dc
    from devbox.adapters.host import procfs
    from devbox.model import labels, limits

    host = procfs.host_size()
    try:
        running = [
            st.labels
            for st in dc.list_labeled(labels.ROLE, all_states=False)
            if st.labels.get(labels.ROOT, "") == str(cfg.root)
        ]
    except Exception as err:  # noqa: BLE001 - docker down is check_docker's to report
        return Check(
            "promised to containers", False, f"cannot list containers: {err}", needed=False
        )
    promised = limits.promised(running, host)
    ok = promised.memory <= host.memory and promised.cpus <= host.cpus * 4
    return Check(
        "promised to containers",
        ok,
        promised.describe(),
        ""
        if ok
        else "the containers may together take more memory than the host "
        "has: lower 'limits.memory' or the branch map's memory",
        needed=False,
    )


def check_cgroup_isolation(cfg: Config) -> Check:
    """Containers made by a devbox before cgroup isolation have the host's whole
    /sys/fs/cgroup bound writable: their root can freeze or limit any container."""
    from devbox.adapters.docker import containers as dc
    from devbox.model import labels

    try:
        mine = [
            st
            for st in dc.list_labeled(labels.ROLE)
            if st.labels.get(labels.ROOT, "") == str(cfg.root)
        ]
    except Exception as err:  # noqa: BLE001 - docker down is check_docker's to report
        return Check("cgroup isolation", False, f"cannot list containers: {err}", needed=False)
    exposed = sorted(
        st.name for st in mine if any(b.split(":")[1:2] == ["/sys/fs/cgroup"] for b in st.binds)
    )
    if not exposed:
        return Check(
            "cgroup isolation", True, f"{len(mine)} container(s), each sees only its own cgroups"
        )
    return Check(
        "cgroup isolation",
        False,
        f"{len(exposed)} container(s) see the host's cgroups: {', '.join(exposed)}",
        "made by an older devbox: clone each (the clone is isolated) or make it again, "
        "then remove the old one",
        needed=False,
    )


def run_checks(cfg: Config) -> list[Check]:
    checks: list[Check] = [check_docker(), check_privileges()]
    checks += check_kernel()
    checks.append(check_parent(cfg))
    checks.append(check_program(cfg.text("lab.dnsmasq"), "dnsmasq-base", name="dnsmasq"))
    checks.append(check_program("debootstrap", "debootstrap"))
    checks.append(check_root_writable(cfg.root))
    checks.append(check_inotify())
    checks.append(check_reflink(cfg.root))
    checks.append(check_promised(cfg))
    checks.append(check_cgroup_isolation(cfg))
    extra: list[Callable[[Config], Check | None]] = [check_registry]
    for fn in extra:
        try:
            result = fn(cfg)
        except ImportError:
            result = None
        if result is not None:
            checks.append(result)
    return checks
