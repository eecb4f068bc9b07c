"""Every setting devbox has, declared once: the ``SETTINGS`` table (name, kind, default, help).

The env var is derived from the name (``lab.subnet`` -> ``DEVBOX_LAB_SUBNET``); the kinds are
in :mod:`devbox.setting_kinds`; the layering and reading is :mod:`devbox.config`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Setting:
    """One setting: declared once, documented once."""

    name: str
    kind: str  # a key of devbox.setting_kinds.PARSERS
    default: Any
    help: str

    @property
    def env(self) -> str:
        return "DEVBOX_" + self.name.upper().replace(".", "_").replace("-", "_")


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "root",
        "path",
        "/opt/containers",
        "Where devbox keeps per-container /opt trees, leases, logs and the lab state.",
    ),
    Setting(
        "parent",
        "ifname_or_empty",
        "",
        "Host NIC that container LAN interfaces hang off (macvlan parent). "
        "Empty: the lab LAN uplink.",
    ),
    Setting("dhcp_timeout", "float", 10.0, "Seconds to wait for a DHCP lease before failing."),
    Setting("ifname", "ifname", "lan0", "Name of the LAN interface inside containers."),
    Setting(
        "shim_address",
        "cidr_or_empty",
        "",
        "Host-side address (CIDR, e.g. 192.168.1.250/24) for a macvlan shim on a real "
        "'parent', so the host reaches its containers' LAN addresses. Empty: connections "
        "to containers are opened inside their network namespace instead.",
    ),
    Setting(
        "labels",
        "str",
        "",
        "Extra labels for every container devbox makes, as key=value,key=value.",
    ),
    Setting("ssh_timeout", "float", 60.0, "Seconds to wait for a new container's sshd to answer."),
    Setting(
        "image",
        "image",
        "dev",
        "Image a dev container runs when neither --image nor the branch map names one.",
    ),
    Setting(
        "limits.memory",
        "memory_or_auto",
        "auto",
        "Memory limit of each container (e.g. 4g; no swap on top). auto: the host's memory "
        "less limits.host_reserve. The branch and product maps and --memory override it.",
    ),
    Setting(
        "limits.cpus",
        "cpus_or_auto",
        "auto",
        "CPU limit of each container (e.g. 2 or 0.5). auto: all CPUs but one (at least 1).",
    ),
    Setting(
        "limits.pids",
        "int",
        4096,
        "Process (PID) limit of each container: a fork bomb stops there.",
    ),
    Setting(
        "limits.host_reserve",
        "memory",
        "2g",
        "Memory kept back for the host itself: no container may be promised more than the "
        "host's total less this.",
    ),
    Setting(
        "lab.name", "name", "devbox-lab", "Network namespace holding the lab LAN's DHCP server."
    ),
    Setting(
        "lab.uplink",
        "ifname",
        "dbx-lab0",
        "Host end of the lab veth pair; the default macvlan parent.",
    ),
    Setting("lab.subnet", "subnet", "10.213.0.0/24", "Lab LAN subnet (IPv4)."),
    Setting("lab.range_start", "int", 100, "First host number handed out by the lab DHCP server."),
    Setting("lab.range_end", "int", 250, "Last host number handed out by the lab DHCP server."),
    Setting(
        "lab.lease_time",
        "str",
        "12h",
        "Lab DHCP lease time in dnsmasq syntax (2m is dnsmasq's minimum).",
    ),
    Setting(
        "lab.renewal_time",
        "int",
        0,
        "Seconds until a lab lease is renewed (DHCP T1); 0: half the lease, the DHCP default. "
        "Short ones show renewals sooner (tests, demos).",
    ),
    Setting("lab.domain", "domain", "lab", "DNS domain served on the lab LAN."),
    Setting(
        "lab.dnsmasq",
        "program",
        "dnsmasq",
        "The lab's DHCP server program: a name looked up on PATH, or a path.",
    ),
    Setting(
        "lab.ping_check",
        "bool",
        False,
        "Let the lab dnsmasq ping-check new addresses (costs ~3 s per new address).",
    ),
    Setting(
        "registry.address",
        "hostport_or_empty",
        "",
        "Private registry as HOST:PORT; empty: none configured (images stay local).",
    ),
    Setting("registry.port", "int", 5443, "Port the registry server listens on."),
    Setting(
        "registry.storage",
        "path",
        "/opt/registry",
        "Registry blob storage on the host; survives down/up.",
    ),
    Setting(
        "registry.image",
        "image_or_empty",
        "",
        "Registry image to run; empty: build devbox/registry from the Debian base.",
    ),
    Setting(
        "registry.name",
        "name",
        "devbox-registry",
        "Container name of the registry server this host runs.",
    ),
    Setting(
        "registry.network",
        "name_or_empty",
        "devbox-registry",
        "Docker network (user-defined bridge) the registry container sits on; its port "
        "is published on the host.",
    ),
    Setting(
        "registry.tls",
        "bool",
        True,
        "Serve the registry over TLS with devbox's own CA (off: plain HTTP, insecure).",
    ),
    # /opt seeds fetched from a URL (roles/dockeruser/opt-seeds.toml, --opt-seed)
    Setting(
        "seeds.max_bytes",
        "int",
        4 * 1024**3,
        "Largest /opt seed download accepted from a URL, in bytes (default 4 GiB).",
    ),
    Setting(
        "seeds.timeout",
        "float",
        1800.0,
        "Overall time limit, in seconds, for downloading one /opt seed from a URL.",
    ),
    Setting(
        "seeds.ca_file",
        "str",
        "",
        "CA bundle (PEM) that https seed servers are verified with; empty: the system's.",
    ),
    Setting(
        "mirror.debian", "url", "http://deb.debian.org/debian", "Debian mirror for debootstrap."
    ),
    Setting(
        "mirror.ubuntu", "url", "http://archive.ubuntu.com/ubuntu", "Ubuntu mirror for debootstrap."
    ),
    Setting(
        "mirror.rocky",
        "url",
        "https://dl.rockylinux.org/pub/rocky",
        "Rocky Linux mirror for dnf --installroot.",
    ),
    Setting(
        "mirror.centos", "url", "https://vault.centos.org", "CentOS mirror for yum --installroot."
    ),
    Setting("p4.port", "str", "", "Perforce server (P4PORT); empty: from P4CONFIG/environment."),
    Setting("p4.user", "str", "", "Perforce user (P4USER); empty: from P4CONFIG/environment."),
    Setting("p4.client_prefix", "word", "devbox", "Prefix of per-container Perforce workspaces."),
    Setting("p4.charset", "str", "", "Perforce charset (P4CHARSET); empty: server default."),
    Setting(
        "p4.tickets",
        "str",
        "",
        "Perforce tickets file (P4TICKETS); empty: $P4TICKETS or the P4 API's ~/.p4tickets. "
        "The service sets it per job for a user's request (a one-ticket file of its own).",
    ),
    Setting(
        "p4.options",
        "str",
        "allwrite clobber nocompress unlocked nomodtime rmdir",
        "Options of per-container Perforce workspaces.",
    ),
    Setting(
        "p4.factory",
        "str",
        "",
        "Python 'module:callable' returning a P4Python-shaped object (as P4.P4() does) for each "
        "Perforce connection: the hook for a site's P4 wrapper and for tests "
        "(tests.fakes.p4fake:from_state); empty: P4Python's P4.P4. Importing it runs its code "
        "as root in the devbox service, so it is read only from the service's own settings or "
        "root's forwarded environment (the service takes settings from uid 0 only), never "
        "from another user's; the module must be on the service's Python path.",
    ),
    Setting(
        "branches.map", "str", "", "Branch map file (TOML); empty: roles/dockeruser/branches.toml."
    ),
    Setting(
        "products.map",
        "str",
        "",
        "Product release map for combos (TOML); empty: roles/dockeruser/products.toml.",
    ),
    Setting(
        "ssh.write_config",
        "bool",
        True,
        "Write ~/.ssh/config.d/devbox entries (the service's jobs leave it to the client).",
    ),
    Setting(
        "service.socket",
        "str",
        "",
        "The devbox service's API socket; empty: /run/devbox/devbox.sock for the default root, "
        "else <root>/run/devbox.sock.",
    ),
    Setting(
        "service.group",
        "word",
        "devbox",
        "Unix group whose members may use the devbox service (the API socket's group).",
    ),
    Setting(
        "service.jobs_per_user",
        "int",
        32,
        "Jobs (long requests: make, clone, remove...) one user may have running at once in "
        "the devbox service; root has no limit; 0: no limit.",
    ),
    Setting(
        "service.admin_group",
        "word",
        "devbox-admin",
        "Unix group whose members act on every user's containers and run the admin commands.",
    ),
    Setting(
        "host",
        "name_or_empty",
        "",
        "The host whose devbox service commands go to, over SSH (a [hosts.NAME] of your config "
        "or /etc/devbox/hosts.toml; the --host flag); empty: this machine's.",
    ),
    Setting(
        "idle_stop_after",
        "duration_or_off",
        "off",
        "The service stops a running container that has had no SSH session and CPU under "
        "idle_cpu_percent for this long (e.g. 8h, 90m, 30s); off: never. Containers made "
        "with --keep-running are never stopped. Read from the service's own settings.",
    ),
    Setting(
        "idle_cpu_percent",
        "float",
        5.0,
        "CPU use (percent of one CPU, since the last look) under which a container counts "
        "as idle for idle_stop_after.",
    ),
    Setting("quota.containers", "int", 0, "Containers one user may own; 0: no quota."),
    Setting(
        "quota.memory",
        "memory_or_none",
        "none",
        "Memory one user's containers may be promised in all (e.g. 64g); none: no quota.",
    ),
    Setting(
        "quota.cpus",
        "cpus_or_none",
        "none",
        "CPUs one user's containers may be promised in all (e.g. 16); none: no quota.",
    ),
    Setting(
        "quota.users",
        "path",
        "/etc/devbox/quotas.toml",
        'Per-user quota overrides (TOML: [alice] containers = 10, memory = "128g"); '
        "a missing file: none.",
    ),
)

BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}
