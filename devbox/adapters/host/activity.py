"""What a running container is doing, as the host's kernel tells it (for idle stop).

- :func:`cpu_usec`: the CPU time of the container's cgroups so far, from devbox's own cgroup
  above the part a container may write (``devbox/<name>``: cgroup v2 ``cpu.stat``
  ``usage_usec``, cgroup v1 ``cpuacct.usage``). The kernel writes these files; a container
  cannot (v2: its writable subtree is ``devbox/<name>/ns`` below; v1: its cpuacct is read-only).
- :func:`tcp_tables`: the TCP socket tables (``tcp`` and ``tcp6``) of the network namespace
  of the container's init process, from the host's procfs, ``/proc/PID/net/``. Each path
  component is opened with ``O_NOFOLLOW`` from the host's ``/proc``: no link is followed, and
  nothing in the container's tree (``/proc/PID/root``) is ever touched. Its sshd, utmp and
  ``who`` are the tenant's and are not asked.
"""

from __future__ import annotations

import os

from devbox.adapters.host import cgroupfs
from devbox.model import vmstyle
from devbox.model.naming import validate_name

PROC = "/proc"
MAX_TABLE = 8 << 20  # a socket table larger than this is not read to the end


def _read_no_follow(parts: list[str], limit: int) -> bytes | None:
    """The file at ``/parts[0]/parts[1]/...``, each component opened with O_NOFOLLOW
    (None: missing, a link, unreadable)."""
    fds: list[int] = []
    try:
        fd = os.open("/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        fds.append(fd)
        for part in parts[:-1]:
            fd = os.open(
                part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd
            )
            fds.append(fd)
        fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
        fds.append(fd)
        chunks: list[bytes] = []
        size = 0
        while size < limit:
            chunk = os.read(fd, min(1 << 16, limit - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        for opened in reversed(fds):
            os.close(opened)


def cpu_usec(name: str, cgmode: str | None = None) -> int | None:
    """CPU time (microseconds) the container ``name`` has used so far; None: unreadable."""
    validate_name(name)
    cgmode = cgmode or cgroupfs.mode()
    root = str(cgroupfs.CGROUP_ROOT).strip("/").split("/")
    outer = vmstyle.cgroup_outer(name).split("/")
    if cgmode == vmstyle.CGROUP_V2:
        raw = _read_no_follow([*root, *outer, "cpu.stat"], 1 << 16)
        if raw is None:
            return None
        for line in raw.decode("ascii", errors="replace").splitlines():
            key, _, value = line.partition(" ")
            if key == "usage_usec":
                return int(value) if value.strip().isdigit() else None
        return None
    for hierarchy in ("cpuacct", "cpu,cpuacct"):
        raw = _read_no_follow([*root, hierarchy, *outer, "cpuacct.usage"], 64)
        if raw is not None and raw.strip().isdigit():
            return int(raw.strip()) // 1000
    return None


def tcp_tables(pid: int) -> list[str] | None:
    """The texts of ``/proc/PID/net/tcp`` and ``tcp6`` of the network namespace process
    ``pid`` is in; None when ``tcp`` cannot be read (no such process)."""
    if pid <= 0:
        return None
    base = [PROC.strip("/"), str(pid), "net"]
    v4 = _read_no_follow([*base, "tcp"], MAX_TABLE)
    if v4 is None:
        return None
    v6 = _read_no_follow([*base, "tcp6"], MAX_TABLE)  # no IPv6 in that namespace: None
    return [raw.decode("ascii", errors="replace") for raw in (v4, v6) if raw is not None]
