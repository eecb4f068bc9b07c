"""The endpoints of API v1, in one table: method, path, the operation, and how it runs
(``quick``: answered by the service at once; ``job``: a job child streaming events).
``changes``: the request goes to the audit log. README's API table is this table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from devbox.api import admin_operations as admin
from devbox.api import clone_hosts_operations as clone_hosts
from devbox.api import host_operations as host
from devbox.api import move_operations as move
from devbox.api import operations as ops
from devbox.api import snapshot_operations as snap
from devbox.api import stats_operations as stats_ops
from devbox.api import user_operations as user


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    op: str
    run: str  # quick | job
    changes: bool
    summary: str
    call: Callable[..., Any] | None = None  # None: answered by the server itself


def read(path: str, op: str, summary: str, call: Callable[..., Any]) -> Route:
    """A quick GET that changes nothing."""
    return Route("GET", path, op, "quick", False, summary, call)


def job(method: str, path: str, op: str, summary: str, call: Callable[..., Any]) -> Route:
    """Long work in a job that changes something (audited)."""
    return Route(method, path, op, "job", True, summary, call)


ROUTES: tuple[Route, ...] = (
    Route("GET", "/version", "version", "quick", False, "API and devbox version"),
    read("/whoami", "whoami", "the caller, quota, containers", ops.whoami),
    read("/host", "host", "memory, CPUs: total, free, promised", host.host_facts),
    read("/containers", "list", "list (?all, ?mine, ?no_size)", ops.list_containers),
    job("POST", "/containers", "make", "make a dev, OS or combo container", ops.make),
    read("/containers/{name}", "inspect", "address, host keys for ssh", ops.inspect),
    job("DELETE", "/containers/{name}", "remove", "remove (?purge, ?force)", ops.remove),
    job("POST", "/containers/{name}/start", "start", "start, wait for sshd", ops.start),
    job("POST", "/containers/{name}/stop", "stop", "stop cleanly", ops.stop),
    job("POST", "/containers/{name}/clones", "clone", "clone N times", ops.clone),
    job("DELETE", "/containers/{name}/clones", "remove_clones", "remove clones", ops.remove_clones),
    read(
        "/containers/{name}/reach",
        "reach",
        "may the caller connect to its LAN address (?port)",
        user.reach,
    ),
    Route(
        "GET",
        "/containers/{name}/connect",
        "connect",
        "quick",
        False,
        "WebSocket: a byte relay to its LAN address (?port; ssh ProxyCommand)",
    ),
    job("POST", "/containers/{name}/exec", "exec", "run a command, stream output", ops.exec_in),
    job("POST", "/containers/{name}/checkout", "checkout", "check out / update", ops.checkout),
    # move (the image and /opt files stream through devbox.api.transfer's routes)
    job(
        "POST", "/containers/{name}/export", "export", "move: stop, commit, pack /opt", move.export
    ),
    job("DELETE", "/exports/{spool}", "export_drop", "move: drop (?restart)", move.drop_export),
    job("POST", "/exports/{spool}/finish", "export_finish", "move: remove it", move.finish_export),
    Route("POST", "/imports", "import_new", "quick", True, "move: a new import", move.new_import),
    job(
        "POST", "/imports/{spool}/container", "import_make", "move: make it", move.import_container
    ),
    Route("DELETE", "/imports/{spool}", "import_drop", "quick", True, "move", move.drop_import),
    # clone --hosts (the files stream through the same routes as a move's)
    job(
        "POST",
        "/containers/{name}/clone-exports",
        "clone_export",
        "clone --hosts: freeze once, spool image + /opt",
        clone_hosts.export,
    ),
    job("DELETE", "/clone-exports/{spool}", "clone_export_drop", "clone", clone_hosts.drop_export),
    Route(
        "POST",
        "/clone-imports",
        "clone_import",
        "quick",
        True,
        "reserve names",
        clone_hosts.reserve,
    ),
    job(
        "POST",
        "/clone-imports/{spool}/clones",
        "clone_import_make",
        "clone --hosts: make this host's share",
        clone_hosts.make_clones,
    ),
    read("/containers/{name}/log", "log", "the devbox log (?offset)", ops.log_text),
    read("/containers/{name}/snapshots", "snapshots", "its snapshots", snap.list_snapshots),
    job("POST", "/containers/{name}/snapshots", "snapshot", "snapshot (tag)", snap.snapshot),
    job(
        "DELETE",
        "/containers/{name}/snapshots/{tag}",
        "snapshot_remove",
        "remove a snapshot",
        snap.remove_snapshot,
    ),
    job("POST", "/containers/{name}/restore", "restore", "restore a snapshot (tag)", snap.restore),
    job(
        "POST",
        "/run-on",
        "run_on",
        "a command on many containers over SSH, results streamed",
        user.run_on,
    ),
    read(
        "/combos/stale",
        "stale_combos",
        "combos stopped for ?stopped_for seconds",
        user.stale_combos,
    ),
    job(
        "POST",
        "/combos/prune",
        "prune_combos",
        "remove stale combos (names, purge)",
        user.prune_combos,
    ),
    read("/images", "list_images", "devbox images", user.list_images),
    read("/stats", "stats", "CPU, memory, PIDs, net, /opt (?names)", stats_ops.stats),
    # admins only (root or group devbox-admin)
    read("/doctor", "doctor", "the host's checks", admin.doctor),
    read("/lab", "lab_status", "the lab LAN, its leases and simulated hosts", admin.lab_status),
    job("POST", "/lab", "lab_up", "bring the lab LAN up (vlans, hosts)", admin.lab_up),
    job("DELETE", "/lab", "lab_down", "take the lab LAN and its hosts down", admin.lab_down),
    read("/net", "net_show", "LAN interfaces (?container)", admin.net_show),
    job("POST", "/net/{name}", "net_attach", "attach a LAN interface", admin.net_attach),
    job(
        "DELETE", "/net/{name}", "net_detach", "release and remove LAN interfaces", admin.net_detach
    ),
    job("POST", "/bases", "build_base", "build a base image", admin.build_base),
    job("POST", "/images", "build_image", "build a dev image", admin.build_image),
    job("POST", "/images/{name}/push", "publish", "push an image to the registry", admin.publish),
    read("/registry", "registry_status", "the registry's status", admin.registry_status),
    job("POST", "/registry/up", "registry_up", "start the registry", admin.registry_up),
    job("POST", "/registry/down", "registry_down", "stop the registry", admin.registry_down),
    job("POST", "/registry/gc", "registry_gc", "garbage-collect", admin.registry_gc),
    job(
        "POST",
        "/registry/users",
        "registry_user_add",
        "add a user (password in the body, never logged)",
        admin.registry_user_add,
    ),
    job(
        "DELETE",
        "/registry/users/{name}",
        "registry_user_remove",
        "remove a user",
        admin.registry_user_remove,
    ),
    Route("POST", "/jobs/{job}/cancel", "cancel", "quick", False, "Ctrl-C for a running job"),
    Route("POST", "/jobs/{job}/answer", "answer", "quick", False, "answer a job's prompt"),
)

OPERATIONS: dict[str, Callable[..., Any]] = {r.op: r.call for r in ROUTES if r.call is not None}
