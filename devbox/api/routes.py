"""The endpoints of API v1, in one table: method, path, the operation, and how it runs
(``quick``: answered by the service at once; ``job``: a job child streaming events).
``changes``: the request goes to the audit log. README's API table is this table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from devbox.api import admin_operations as admin
from devbox.api import host_operations as host
from devbox.api import operations as ops
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


ROUTES: tuple[Route, ...] = (
    Route("GET", "/version", "version", "quick", False, "API and devbox version"),
    Route("GET", "/whoami", "whoami", "quick", False, "the caller, quota, containers", ops.whoami),
    Route(
        "GET",
        "/host",
        "host",
        "quick",
        False,
        "memory, CPUs: total, free, promised",
        host.host_facts,
    ),
    Route(
        "GET",
        "/containers",
        "list",
        "quick",
        False,
        "list (?all, ?mine, ?no_size)",
        ops.list_containers,
    ),
    Route(
        "POST", "/containers", "make", "job", True, "make a dev, OS or combo container", ops.make
    ),
    Route(
        "GET",
        "/containers/{name}",
        "inspect",
        "quick",
        False,
        "address, host keys for ssh",
        ops.inspect,
    ),
    Route(
        "DELETE", "/containers/{name}", "remove", "job", True, "remove (?purge, ?force)", ops.remove
    ),
    Route(
        "POST", "/containers/{name}/start", "start", "job", True, "start, wait for sshd", ops.start
    ),
    Route("POST", "/containers/{name}/stop", "stop", "job", True, "stop cleanly", ops.stop),
    Route("POST", "/containers/{name}/clones", "clone", "job", True, "clone N times", ops.clone),
    Route(
        "DELETE",
        "/containers/{name}/clones",
        "remove_clones",
        "job",
        True,
        "remove clones",
        ops.remove_clones,
    ),
    Route(
        "POST",
        "/containers/{name}/exec",
        "exec",
        "job",
        True,
        "run a command, stream output",
        ops.exec_in,
    ),
    Route(
        "POST",
        "/containers/{name}/checkout",
        "checkout",
        "job",
        True,
        "check out / update",
        ops.checkout,
    ),
    Route(
        "GET",
        "/containers/{name}/log",
        "log",
        "quick",
        False,
        "the devbox log (?offset)",
        ops.log_text,
    ),
    Route(
        "POST",
        "/run-on",
        "run_on",
        "job",
        True,
        "a command on many containers over SSH, results streamed",
        user.run_on,
    ),
    Route(
        "GET",
        "/combos/stale",
        "stale_combos",
        "quick",
        False,
        "combos stopped for ?stopped_for seconds",
        user.stale_combos,
    ),
    Route(
        "POST",
        "/combos/prune",
        "prune_combos",
        "job",
        True,
        "remove stale combos (names, purge)",
        user.prune_combos,
    ),
    Route("GET", "/images", "list_images", "quick", False, "devbox images", user.list_images),
    Route(
        "GET",
        "/stats",
        "stats",
        "quick",
        False,
        "CPU, memory, PIDs, net, /opt (?names)",
        stats_ops.stats,
    ),
    # admins only (root or group devbox-admin)
    Route("GET", "/doctor", "doctor", "quick", False, "the host's checks", admin.doctor),
    Route("GET", "/net", "net_show", "quick", False, "LAN interfaces (?container)", admin.net_show),
    Route(
        "POST", "/net/{name}", "net_attach", "job", True, "attach a LAN interface", admin.net_attach
    ),
    Route(
        "DELETE",
        "/net/{name}",
        "net_detach",
        "job",
        True,
        "release and remove LAN interfaces",
        admin.net_detach,
    ),
    Route("POST", "/bases", "build_base", "job", True, "build a base image", admin.build_base),
    Route("POST", "/images", "build_image", "job", True, "build a dev image", admin.build_image),
    Route(
        "POST",
        "/images/{name}/push",
        "publish",
        "job",
        True,
        "push an image to the registry",
        admin.publish,
    ),
    Route(
        "GET",
        "/registry",
        "registry_status",
        "quick",
        False,
        "the registry's status",
        admin.registry_status,
    ),
    Route(
        "POST", "/registry/up", "registry_up", "job", True, "start the registry", admin.registry_up
    ),
    Route(
        "POST",
        "/registry/down",
        "registry_down",
        "job",
        True,
        "stop the registry",
        admin.registry_down,
    ),
    Route("POST", "/registry/gc", "registry_gc", "job", True, "garbage-collect", admin.registry_gc),
    Route(
        "POST",
        "/registry/users",
        "registry_user_add",
        "job",
        True,
        "add a user (password in the body, never logged)",
        admin.registry_user_add,
    ),
    Route(
        "DELETE",
        "/registry/users/{name}",
        "registry_user_remove",
        "job",
        True,
        "remove a user",
        admin.registry_user_remove,
    ),
    Route("POST", "/jobs/{job}/cancel", "cancel", "quick", False, "Ctrl-C for a running job"),
    Route("POST", "/jobs/{job}/answer", "answer", "quick", False, "answer a job's prompt"),
)

OPERATIONS: dict[str, Callable[..., Any]] = {r.op: r.call for r in ROUTES if r.call is not None}
