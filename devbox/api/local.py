"""Root's transport: the same operations (devbox.api.operations), called in this process,
with this process's settings (environment, flags) as before the service existed. Users go
through the service's socket (devbox.api.client); the CLI talks to either the same way."""

from __future__ import annotations

from typing import Any

from devbox.api.client import OnEvent
from devbox.api.routes import OPERATIONS, ROUTES
from devbox.config import Config
from devbox.errors import UserError
from devbox.model.owners import ROOT


def match(method: str, path: str) -> tuple[str, dict[str, str]]:
    """(operation, path arguments) of ``method path`` in the route table."""
    parts = path.strip("/").split("/")
    for route in ROUTES:
        pattern = route.path.strip("/").split("/")
        if route.method != method or len(pattern) != len(parts):
            continue
        args: dict[str, str] = {}
        for want, got in zip(pattern, parts, strict=True):
            if want.startswith("{") and want.endswith("}"):
                args[want[1:-1]] = got
            elif want != got:
                break
        else:
            return route.op, args
    raise UserError(f"no such endpoint: {method} {path}")


class LocalClient:
    def __init__(self, cfg: Config) -> None:
        from devbox.api import operations

        self.cfg = operations.job_config(cfg)

    def _call(self, method: str, path: str, body: dict[str, Any], emit: OnEvent) -> Any:
        from devbox.api import operations

        op, args = match(method, path)
        return OPERATIONS[op](operations.Request(self.cfg, ROOT, body, emit), **args)

    def get(self, path: str, **params: Any) -> Any:
        body = {k: v for k, v in params.items() if v not in (None, False)}
        return self._call("GET", path, body, lambda _event: None)

    def stream(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        on_event: OnEvent,
        on_interrupt: Any = None,
    ) -> Any:
        return self._call(method, path, dict(body or {}), on_event)
