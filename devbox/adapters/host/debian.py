"""The Debian host's own parts for ``devbox common setup``: dpkg and apt-get, the groups,
sysctls and starting the Docker engine. Every program runs through ``process.run`` (argv
lists, never a shell)."""

from __future__ import annotations

import grp
from collections.abc import Callable, Sequence
from pathlib import Path

from devbox.adapters.host import process, spawn
from devbox.jsonfile import write_text
from devbox.model.host_setup_plan import parse_dpkg_status
from devbox.oplog import NULL_LOG, OpLog

APT_ENV = {
    "DEBIAN_FRONTEND": "noninteractive",
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LC_ALL": "C",
}
DOCKERD_LOG = Path("/var/log/devbox-dockerd.log")
PROC_SYS = Path("/proc/sys")


def installed(packages: Sequence[str]) -> frozenset[str]:
    """Which of ``packages`` dpkg says are installed (dpkg-query exits 1 when it knows some
    of them not at all: those are simply not installed)."""
    if not packages:
        return frozenset()
    dpkg_query = process.require("dpkg-query", "dpkg")
    result = process.run(
        [dpkg_query, "-W", "-f", "${Package}\\t${Status}\\n", "--", *packages],
        check=False,
        env=APT_ENV,
        timeout=60,
    )
    return parse_dpkg_status(result.stdout or "")


def apt_install(
    packages: Sequence[str], log: OpLog = NULL_LOG, on_line: Callable[[str], None] | None = None
) -> None:
    """``apt-get update`` then ``apt-get install -y --no-install-recommends PACKAGES``."""
    apt_get = process.require("apt-get", "apt")
    process.run([apt_get, "update", "-q"], log=log, env=APT_ENV, timeout=900, on_line=on_line)
    process.run(
        [apt_get, "install", "-y", "-q", "--no-install-recommends", "--", *packages],
        log=log,
        env=APT_ENV,
        timeout=3600,
        on_line=on_line,
    )


def groups_present(names: Sequence[str]) -> frozenset[str]:
    out: set[str] = set()
    for name in names:
        try:
            grp.getgrnam(name)
        except KeyError:
            continue
        out.add(name)
    return frozenset(out)


def add_group(name: str, log: OpLog = NULL_LOG) -> None:
    groupadd = process.require("groupadd", "passwd")
    process.run([groupadd, "--system", "--", name], log=log, timeout=60)


def _sysctl_path(name: str) -> Path:
    return PROC_SYS / name.replace(".", "/")


def sysctl_value(name: str) -> int:
    try:
        return int(_sysctl_path(name).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def set_sysctl(name: str, value: int) -> None:
    _sysctl_path(name).write_text(f"{value}\n")


def write_file(path: Path, text: str) -> None:
    """A root-owned config file (0644), written whole (temp + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, text, mode=0o644)


def read_file(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError):
        return ""  # something unreadable there: not what devbox would write


def systemd_running() -> bool:
    return Path("/run/systemd/system").is_dir()


def start_dockerd(log: OpLog = NULL_LOG) -> str:
    """Start the Docker engine: through systemd when it runs, else ``dockerd`` detached
    (output to :data:`DOCKERD_LOG`). The caller checked no engine answers. How it started."""
    if systemd_running():
        systemctl = process.require("systemctl", "systemd")
        process.run([systemctl, "enable", "--now", "docker.service"], log=log, timeout=300)
        return "systemctl enable --now docker.service"
    dockerd = process.require("dockerd", "docker.io")
    log.write(f"$ {dockerd} (detached, output to {DOCKERD_LOG})")
    pid = spawn.detached([dockerd], output=DOCKERD_LOG, env=APT_ENV)
    return f"dockerd (pid {pid}, log {DOCKERD_LOG})"
