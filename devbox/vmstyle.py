"""How a full-VM-style container runs: the docker SDK parameters for systemd as PID 1.

Pure: returns keyword arguments for ``client.containers.run(**kw)`` / ``containers.create``.

Found on this host class (Docker 20.10, cgroup v1 "hybrid": per-controller v1 hierarchies,
``name=systemd`` and a cgroup2 ``unified`` mount) and proven by
``tests/integration/test_images_boot.py``:

- **not privileged, no added capabilities.** systemd 252 (Debian 12) needs a writable
  ``name=systemd`` hierarchy to create ``init.scope``; Docker's own cgroup mount is read-only
  for unprivileged containers, so without help PID 1 exits with "Failed to create
  /init.scope control group: Read-only file system".
- ``cgroupns="host"`` plus a bind mount of the host's ``/sys/fs/cgroup``: systemd finds its own
  cgroup (``/docker/<id>``) from ``/proc/self/cgroup`` and creates its units below it. (The
  alternative, a private cgroup namespace, works only with ``CAP_SYS_ADMIN`` added, which is
  broader than we want.) Docker 20.10 applies ``ro`` only to the top tmpfs of that bind, the
  controller mounts below stay writable, so we say ``rw`` honestly.
- tmpfs on ``/run``, ``/run/lock`` and ``/tmp`` (systemd expects them to be fresh tmpfs).
- ``container=docker`` in the environment so systemd knows it is in a container.
- ``stop_signal="SIGRTMIN+3"``: systemd's "halt" signal, so ``docker stop`` is a clean shutdown
  that takes well under a second instead of the 10 s SIGTERM-then-SIGKILL dance.
- a TTY, so systemd's boot messages land in ``docker logs``.
- for a container whose LAN interface devbox plumbs (``network_mode="none"``), Docker's
  networking is switched off altogether (``network_disabled``): runc still gives the container
  its own network namespace (loopback only, brought up by systemd), but the engine builds no
  libnetwork sandbox for it, which costs two runs of the dockerd binary per start (about
  140 ms of CPU: 20 clones on 2 cores boot ~1.5 s sooner). The engine then leaves
  ``/etc/hosts`` and ``/etc/resolv.conf`` to the container, like a VM's own files: devbox puts
  them in before the first boot (:func:`hosts_file`, :func:`resolv_conf`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

STOP_SIGNAL = "SIGRTMIN+3"
STOP_TIMEOUT = 20

TMPFS: dict[str, str] = {
    "/run": "rw,nosuid,nodev,mode=755",
    "/run/lock": "rw,nosuid,nodev,noexec,mode=1777",
    "/tmp": "rw,nosuid,nodev,mode=1777",
}

CGROUP_MOUNT = "/sys/fs/cgroup"


def systemd_run_kwargs(
    name: str,
    image: str,
    opt_dir: Path | str | None,
    labels: Mapping[str, str] | None = None,
    network_mode: str | None = "none",
    *,
    hostname: str | None = None,
    restart: str = "unless-stopped",
    environment: Mapping[str, str] | None = None,
    extra_volumes: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, Any]:
    """Docker SDK ``containers.run``/``create`` kwargs for a container booting systemd as PID 1.

    ``opt_dir`` (host path) is bind-mounted at ``/opt``; ``network_mode`` is ``"none"`` for a
    container whose LAN interface devbox plumbs, ``"bridge"`` (or a network name) otherwise.
    """
    volumes: dict[str, dict[str, str]] = {CGROUP_MOUNT: {"bind": CGROUP_MOUNT, "mode": "rw"}}
    if opt_dir is not None:
        volumes[str(opt_dir)] = {"bind": "/opt", "mode": "rw"}
    for host, spec in (extra_volumes or {}).items():
        volumes[str(host)] = dict(spec)
    env = {"container": "docker"}
    env.update(environment or {})
    kwargs: dict[str, Any] = {
        "name": name,
        "image": image,
        "hostname": hostname or name,
        "detach": True,
        "tty": True,
        "stdin_open": False,
        "privileged": False,
        "cgroupns": "host",
        "tmpfs": dict(TMPFS),
        "volumes": volumes,
        "environment": env,
        "stop_signal": STOP_SIGNAL,
        "labels": dict(labels or {}),
    }
    if network_mode is not None:
        kwargs["network_mode"] = network_mode
    if network_mode == "none":
        kwargs["network_disabled"] = True  # see the module docstring
    if restart:
        kwargs["restart_policy"] = {"Name": restart}
    return kwargs


def hosts_file(name: str) -> str:
    """``/etc/hosts`` of a VM-style container named ``name`` (Debian's layout: the host name on
    127.0.1.1, so it resolves without DNS)."""
    return (f"127.0.0.1\tlocalhost\n127.0.1.1\t{name}\n"
            "::1\tlocalhost ip6-localhost ip6-loopback\n"
            "ff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n")


def resolv_conf(host_text: str) -> str:
    """A container's ``/etc/resolv.conf`` from the host's, as Docker makes it: the same search
    domains and options, without name servers on the host's loopback (127.0.0.0/8, ::1),
    which the container cannot reach."""
    import ipaddress

    out = []
    for line in host_text.splitlines():
        fields = line.split()
        if fields and fields[0] == "nameserver" and len(fields) > 1:
            try:
                if ipaddress.ip_address(fields[1].split("%")[0]).is_loopback:
                    continue
            except ValueError:
                continue
        out.append(line)
    return "\n".join(out).strip() + "\n"
