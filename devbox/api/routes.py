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


ROUTES: tuple[Route, ...] = (
    Route("GET", "/version", "version", "quick", False, "API and devbox version"),
    Route("GET", "/whoami", "whoami", "quick", False, "the caller, their quota and containers"),
    Route("GET", "/containers", "list", "quick", False, "list containers (?all, ?mine, ?no_size)"),
    Route("POST", "/containers", "make", "job", True, "make a dev, OS or combo container"),
    Route("GET", "/containers/{name}", "inspect", "quick", False, "address and host keys for ssh"),
    Route("DELETE", "/containers/{name}", "remove", "job", True, "remove (?purge, ?force)"),
    Route("POST", "/containers/{name}/start", "start", "job", True, "start, wait for sshd"),
    Route("POST", "/containers/{name}/stop", "stop", "job", True, "stop cleanly"),
    Route("POST", "/containers/{name}/clones", "clone", "job", True, "clone N times"),
    Route("DELETE", "/containers/{name}/clones", "remove_clones", "job", True, "remove clones"),
    Route("POST", "/containers/{name}/exec", "exec", "job", True, "run a command, stream output"),
    Route("POST", "/containers/{name}/checkout", "checkout", "job", True, "check out / update"),
    Route("GET", "/containers/{name}/log", "log", "quick", False, "the container's devbox log"),
    Route("POST", "/jobs/{job}/cancel", "cancel", "quick", False, "Ctrl-C for a running job"),
)

OPERATIONS: dict[str, Callable[..., Any]] = {
    "whoami": ops.whoami,
    "list": ops.list_containers,
    "make": ops.make,
    "inspect": ops.inspect,
    "remove": ops.remove,
    "start": ops.start,
    "stop": ops.stop,
    "clone": ops.clone,
    "remove_clones": ops.remove_clones,
    "exec": ops.exec_in,
    "checkout": ops.checkout,
    "log": ops.log_text,
}
