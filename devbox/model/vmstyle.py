"""How a full-VM-style container runs: the docker SDK parameters for systemd as PID 1.

Pure: returns keyword arguments for ``client.containers.run(**kw)`` / ``containers.create``.

Found on this host class (Docker 20.10, cgroup v1 "hybrid": per-controller v1 hierarchies,
``name=systemd`` and a cgroup2 ``unified`` mount) and proven by
``tests/integration/test_images_boot.py``:

- **not privileged, no added capabilities.** systemd 252 (Debian 12) needs a writable
  ``name=systemd`` hierarchy to create ``init.scope``; Docker's own cgroup mount is read-only
  for unprivileged containers, so without help PID 1 exits with "Failed to create
  /init.scope control group: Read-only file system".
- **its own cgroups only.** systemd must create its units below its own cgroup, so that
  subtree must be writable; nothing else may be. Docker's own cgroup mounts are read-only
  for an unprivileged container and cannot be made writable without ``--privileged``
  (moby#46763), and the container's cgroup is ``<cgroup_parent>/<id>``, an id Docker picks
  at create time. So devbox names the parent, ``devbox/<name>``, and binds (cgroup v1)
  ``/sys/fs/cgroup/systemd/devbox/<name>`` at the same path inside the container, writable,
  on top of ``/sys/fs/cgroup/systemd/devbox-view/<name>`` (an empty cgroup, so
  ``/sys/fs/cgroup/systemd`` is a cgroup mount as systemd requires). With the host's cgroup
  namespace, ``/proc/self/cgroup`` says ``/devbox/<name>/<id>`` and that path exists, writable,
  inside the container; the controllers (memory, pids, cpu, freezer, devices, ...) keep
  Docker's read-only mounts of the container's own leaf. Only the named ``systemd``
  hierarchy (no controller: no limit, no freezer lives there) is writable, and only its own
  subtree: a container cannot see, freeze, limit or join a neighbour's cgroups, nor loosen
  its own limits. The bind sources are plain binds (``volumes``), which Docker creates when
  missing, so the same container boots after a reboot or a dockerd restart. (Proven by
  ``tests/integration/test_hostile_tenant_cgroups.py``.) On a cgroup v2 host the same two
  binds are made on the unified hierarchy (``devbox-view/<name>`` at ``/sys/fs/cgroup``,
  ``devbox/<name>/ns`` at its own path); there the container's own leaf files are writable,
  so devbox keeps its limits one level up, in ``devbox/<name>``, where the container cannot
  reach (``adapters/cgroupfs.apply_outer_limits``). Written from the kernel's cgroup-v2 and
  Docker's cgroup-parent documentation; this CI host is v1, where it is tested.
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
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from devbox.model.limits import Limits

STOP_SIGNAL = "SIGRTMIN+3"
STOP_TIMEOUT = 20

TMPFS: dict[str, str] = {
    "/run": "rw,nosuid,nodev,mode=755",
    "/run/lock": "rw,nosuid,nodev,noexec,mode=1777",
    "/tmp": "rw,nosuid,nodev,mode=1777",
}

CGROUP_MOUNT = "/sys/fs/cgroup"
CGROUP_V1 = "v1"  # legacy or hybrid host: per-controller hierarchies + name=systemd
CGROUP_V2 = "v2"  # unified host: one cgroup2 hierarchy at /sys/fs/cgroup


def cgroup_outer(name: str) -> str:
    """Where devbox keeps a container's cgroups, relative to a hierarchy's root."""
    return f"devbox/{name}"


def cgroup_dirs(name: str) -> tuple[str, ...]:
    """The cgroup directories (relative to each hierarchy root) devbox makes for ``name``,
    deepest-last; all go when the container is removed."""
    return (f"devbox-view/{name}", cgroup_outer(name))


def cgroup_kwargs(name: str, mode: str = CGROUP_V1) -> dict[str, Any]:
    """Docker kwargs that give a systemd container its own cgroup subtree, writable, and
    nothing else (see the module docstring)."""
    if mode == CGROUP_V2:
        base, parent = CGROUP_MOUNT, f"/{cgroup_outer(name)}/ns"
    else:
        base, parent = f"{CGROUP_MOUNT}/systemd", f"/{cgroup_outer(name)}"
    own = f"{base}{parent}"
    return {
        "cgroupns": "host",
        "cgroup_parent": parent,
        "volumes": {
            f"{base}/devbox-view/{name}": {"bind": base, "mode": "rw"},
            own: {"bind": own, "mode": "rw"},
        },
    }


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
    cgroup_mode: str = CGROUP_V1,
    limits: Limits | None = None,
) -> dict[str, Any]:
    """Docker SDK ``containers.run``/``create`` kwargs for a container booting systemd as PID 1.

    ``opt_dir`` (host path) is bind-mounted at ``/opt``; ``network_mode`` is ``"none"`` for a
    container whose LAN interface devbox plumbs, ``"bridge"`` (or a network name) otherwise.
    """
    cgroups = cgroup_kwargs(name, cgroup_mode)
    volumes: dict[str, dict[str, str]] = dict(cgroups.pop("volumes"))
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
        **cgroups,
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
    if limits is not None:
        kwargs.update(limits.docker_kwargs())
        kwargs["labels"].update(limits.labels())
    return kwargs


def hosts_file(name: str) -> str:
    """``/etc/hosts`` of a VM-style container named ``name`` (Debian's layout: the host name on
    127.0.1.1, so it resolves without DNS)."""
    return (
        f"127.0.0.1\tlocalhost\n127.0.1.1\t{name}\n"
        "::1\tlocalhost ip6-localhost ip6-loopback\n"
        "ff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
    )


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
