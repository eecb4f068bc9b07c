"""Simulated hosts on the lab LAN (``devbox common lab up --hosts N``), planned (pure: no I/O).

Host 1 is this machine. Hosts 2..N are each a network namespace on the same lab LAN, with
their own dockerd, sshd and devbox service over a devbox root of their own:

    netns <lab>:        labbr0 (bridge) with S.1, dnsmasq on it; ports: lab0 (this machine's
                        uplink peer), hp2, hp3, ... (one per simulated host)
    netns <lab>-h<i>:   lan0 (veth peer of hp<i>, stable MAC) with a DHCP lease from the lab;
                        dockerd -H unix://<dir>/docker.sock, sshd on the lease's address, and
                        ``devbox --root <dir>/root common daemon`` (DOCKER_HOST = that dockerd,
                        parent = lan0)

Everything a host keeps is under ``<root>/lab-hosts/<lab>-h<i>/`` (the host's folder), so
``lab down`` removes one folder per host once its processes are stopped.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from devbox.errors import UserError
from devbox.model.lab_plan import IFNAMSIZ, LabPlan
from devbox.model.macs import client_id, derive_mac
from devbox.model.naming import validate_name

BRIDGE_IFNAME = "labbr0"  # inside the lab's netns: the LAN every uplink is a port of
HOST_IFNAME = "lan0"  # inside a simulated host's netns: its uplink (its devbox parent)
MAX_HOSTS = 8  # this machine's 2 cores and memory: each host is a dockerd + containerd
UNIX_PATH_MAX = 107  # sun_path is 108 bytes with the terminating NUL
CONTAINERD_PATH_MAX = 104  # containerd's own limit for its sockets
EXEC_ROOTS = Path("/run/devbox-lab-hosts")  # each simulated dockerd's --exec-root below
MAC_SALT = "lab-host"


def port_name(index: int) -> str:
    """The lab-side end of host ``index``'s veth pair (inside the lab's netns)."""
    name = f"hp{index}"
    assert len(name) <= IFNAMSIZ
    return name


@dataclass(frozen=True)
class SimHost:
    """One simulated host: host number ``index`` (2..N) of the lab."""

    name: str  # "<lab>-h<i>": hostname, DHCP hostname, netns name, folder name
    index: int
    lab: str  # the lab's netns
    port: str  # the veth end on the lab bridge (in the lab netns)
    uplink: str  # the veth end in the host's netns
    mac: str  # of ``uplink``: stable, so the lab's DHCP hands back the same address
    dir: Path

    @property
    def netns(self) -> str:
        return self.name

    @property
    def client_id(self) -> bytes:
        return client_id(self.name)

    # --- the host's own devbox root (its containers, its service socket, its logs) ---------
    @property
    def root(self) -> Path:
        return self.dir / "root"

    @property
    def service_socket(self) -> Path:
        """The API socket of the host's devbox service (a non-default root's)."""
        return self.root / "run" / "devbox.sock"

    @property
    def service_log(self) -> Path:
        return self.dir / "service.out"

    @property
    def home(self) -> Path:
        """Root's HOME on the host (its service's): ``.config/devbox/config.toml`` is the
        host's own settings (the registry's address), ``.docker/config.json`` its engine's
        registry login, as ``/etc/devbox`` and ``/root/.docker`` on a real host."""
        return self.dir / "home"

    # --- dockerd ---------------------------------------------------------------------------
    @property
    def docker_socket(self) -> Path:
        return self.dir / "docker.sock"

    @property
    def docker_host(self) -> str:
        return f"unix://{self.docker_socket}"

    @property
    def data_root(self) -> Path:
        return self.dir / "docker"

    @property
    def exec_root(self) -> Path:
        """dockerd's runtime state, under /run with a short name: containerd puts its
        sockets here and refuses a path over 104 bytes (containerd-debug.sock), which a
        root deep in a temp folder passes."""
        import hashlib

        return EXEC_ROOTS / hashlib.sha256(str(self.dir).encode()).hexdigest()[:16]

    @property
    def dockerd_pid_file(self) -> Path:
        return self.dir / "dockerd.pid"

    @property
    def dockerd_config(self) -> Path:
        return self.dir / "daemon.json"

    @property
    def dockerd_log(self) -> Path:
        return self.dir / "dockerd.log"

    def dockerd_argv(self, dockerd: str) -> list[str]:
        """dockerd of its own: own sockets, roots and containerd namespace; no bridge, no
        iptables (its containers get devbox's macvlan on ``uplink``, as on a real host)."""
        return [
            dockerd,
            f"--config-file={self.dockerd_config}",
            "-H",
            self.docker_host,
            f"--data-root={self.data_root}",
            f"--exec-root={self.exec_root}",
            f"--pidfile={self.dockerd_pid_file}",
            f"--containerd-namespace={self.name}",
            f"--containerd-plugins-namespace={self.name}-plugins",
            "--bridge=none",
            "--iptables=false",
            "--ip6tables=false",
            "--ip-masq=false",
        ]

    # --- sshd ------------------------------------------------------------------------------
    @property
    def ssh_dir(self) -> Path:
        return self.dir / "ssh"

    @property
    def host_key(self) -> Path:
        return self.ssh_dir / "ssh_host_ed25519_key"

    @property
    def authorized_keys(self) -> Path:
        """Keys that may log in as root (the tests fill it)."""
        return self.ssh_dir / "authorized_keys"

    @property
    def sshd_config(self) -> Path:
        return self.ssh_dir / "sshd_config"

    @property
    def sshd_log(self) -> Path:
        return self.ssh_dir / "sshd.log"

    def sshd_context(self, address: str) -> dict[str, object]:
        return {
            "name": self.name,
            "address": address,
            "port": 22,
            "host_key": str(self.host_key),
            "authorized_keys": str(self.authorized_keys),
            "pid_file": str(self.ssh_dir / "sshd.pid"),
        }

    def sshd_argv(self, sshd: str) -> list[str]:
        # -D: no daemonizing, so the PID devbox starts is sshd's own; -E: its log file
        return [sshd, "-D", "-f", str(self.sshd_config), "-E", str(self.sshd_log)]

    # --- the record of what ``lab up`` started (PIDs) ---------------------------------------
    @property
    def record(self) -> Path:
        return self.dir / "host.json"

    def service_environ(self, base: dict[str, str]) -> dict[str, str]:
        """The environment of the host's devbox service: ``base`` without any DEVBOX_/DOCKER_
        variable of the caller's (they describe this machine), then the host's own."""
        env = {
            k: v
            for k, v in base.items()
            if not k.startswith(("DEVBOX_", "DOCKER_")) and k != "XDG_CONFIG_HOME"
        }
        if "DEVBOX_TEST_RUN_ID" in base:
            env["DEVBOX_TEST_RUN_ID"] = base["DEVBOX_TEST_RUN_ID"]
        env.update(
            {
                "DEVBOX_ROOT": str(self.root),
                "DEVBOX_PARENT": self.uplink,
                "DEVBOX_LAB_NAME": f"{self.name}-lab",  # never this machine's lab
                "DEVBOX_LAB_UPLINK": self.uplink,
                "DOCKER_HOST": self.docker_host,
                "HOME": str(self.home),  # never this machine's /root (settings, logins)
            }
        )
        return env


@dataclass(frozen=True)
class LabHostsPlan:
    lab: LabPlan
    bridge: str
    dir: Path  # <root>/lab-hosts
    hosts: tuple[SimHost, ...]

    def host(self, name: str) -> SimHost | None:
        return next((h for h in self.hosts if h.name == name), None)


def bridged(lab: LabPlan) -> LabPlan:
    """The lab as served once it is a bridge: its address and dnsmasq on the bridge."""
    return replace(lab, ns_ifname=BRIDGE_IFNAME)


def host_name(lab: str, index: int) -> str:
    return validate_name(f"{lab}-h{index}", "lab host name")


def check_count(count: int) -> int:
    if not 1 <= count <= MAX_HOSTS:
        raise UserError(
            f"--hosts {count} is out of range (1-{MAX_HOSTS}: this machine and up to "
            f"{MAX_HOSTS - 1} simulated hosts)",
            hint=f"use --hosts between 1 and {MAX_HOSTS}",
        )
    return count


def sim_host(lab: LabPlan, hosts_dir: Path, index: int) -> SimHost:
    name = host_name(lab.name, index)
    host = SimHost(
        name=name,
        index=index,
        lab=lab.name,
        port=port_name(index),
        uplink=HOST_IFNAME,
        mac=derive_mac(name, MAC_SALT),
        dir=hosts_dir / name,
    )
    debug = host.exec_root / "containerd" / "containerd-debug.sock"
    if len(str(debug).encode()) > CONTAINERD_PATH_MAX:  # never: the exec root is short
        raise UserError(f"lab host {name}: containerd socket path {debug} is too long")
    for sock in (host.docker_socket, host.service_socket):
        if len(str(sock).encode()) > UNIX_PATH_MAX:
            raise UserError(
                f"lab host {name}: socket path {sock} is longer than {UNIX_PATH_MAX} bytes",
                hint="use a shorter devbox root (DEVBOX_ROOT) or lab name",
            )
    return host


def plan(lab: LabPlan, hosts_dir: Path, count: int) -> LabHostsPlan:
    """Hosts 2..``count`` of ``lab`` (``count`` 1: none but this machine)."""
    check_count(count)
    return LabHostsPlan(
        lab=lab,
        bridge=BRIDGE_IFNAME,
        dir=hosts_dir,
        hosts=tuple(sim_host(lab, hosts_dir, i) for i in range(2, count + 1)),
    )


def index_of(lab: str, folder: str) -> int | None:
    """Host number of a host folder name of lab ``lab`` (``<lab>-h<i>``), else None."""
    prefix = f"{lab}-h"
    if not folder.startswith(prefix):
        return None
    digits = folder[len(prefix) :]
    if not digits.isdigit() or digits != str(int(digits)) or not 2 <= int(digits) <= MAX_HOSTS:
        return None
    return int(digits)
