"""The endpoints of API v1, in one table: method, path, the operation, and how it runs
(``quick``: answered by the service at once; ``job``: a job child streaming events).
``changes``: the request goes to the audit log. README's API table is this table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from devbox.api import operations as ops


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
    Route("POST", "/jobs/{job}/cancel", "cancel", "quick", False, "Ctrl-C for a running job"),
)

OPERATIONS: dict[str, Callable[..., Any]] = {r.op: r.call for r in ROUTES if r.call is not None}
