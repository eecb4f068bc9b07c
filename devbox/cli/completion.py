"""Shell completion of container names and branch names (typer ``autocompletion=``
callbacks). Each runs on every Tab press, so it is quick and silent: names come from the
service's listing (``GET /v1/containers?all=1&no_size=1``) bounded to ``BOUND`` seconds, the
branches from the branch map; any error offers nothing."""

from __future__ import annotations

import threading
from typing import Any

from devbox.cli import state

BOUND = 2.0  # seconds one Tab press may wait for the service's listing


def _apply_global_flags(ctx: Any) -> None:
    """``devbox --root R --host H ... <Tab>``: the root callback has not run (completion
    parses resiliently), so take the global flags from the root context's parameters."""
    root = getattr(ctx, "find_root", lambda: None)()
    params = getattr(root, "params", None) or {}
    if params.get("root") is not None or params.get("host") is not None:
        state.set_global_overrides(params.get("root"), params.get("host"))


def _listing() -> list[dict[str, Any]]:
    """The service's container rows, without starting a service (root's CLI would)."""
    import os

    from devbox.api import protocol
    from devbox.api.client import Client
    from devbox.cli import remote

    cfg = state.config()
    host = cfg.text("host")
    if host and host != remote.AUTO:
        api = remote.host_client(host, cfg.environ, timeout=BOUND)
    else:
        path = protocol.socket_path(cfg.root, cfg.text("service.socket"))
        settings = (
            protocol.encode_settings(os.environ, state.overrides()) if os.geteuid() == 0 else None
        )
        api = Client(path, group=cfg.text("service.group"), timeout=BOUND, settings=settings)
    try:
        rows = api.get("/containers", all=True, no_size=True)
    finally:
        api.close()
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


def container_names(incomplete: str = "") -> list[str]:
    """Names of the containers the service lists, starting with ``incomplete``; [] on any
    error or past ``BOUND`` seconds (the thread is a daemon: a hung service holds nothing)."""
    from devbox.waits import poll

    found: list[list[str]] = []

    def ask() -> None:
        try:
            names = sorted({str(r.get("name") or "") for r in _listing()} - {""})
        except Exception:  # noqa: BLE001 - completion is silent on any error
            names = []
        found.append(names)

    threading.Thread(target=ask, name="complete names", daemon=True).start()
    poll(lambda: bool(found) or None, BOUND + 0.5, 0.02)
    names = found[0] if found else []
    return [n for n in names if n.startswith(incomplete)]


def branch_names(incomplete: str = "") -> list[str]:
    """The branch map's exact names (patterns cannot be typed as they are) starting with
    ``incomplete``; [] when the map does not load."""
    from devbox import branches

    try:
        bmap = branches.for_config(state.config())
    except Exception:  # noqa: BLE001 - completion is silent on any error
        return []
    return [e.name for e in bmap.entries if not e.is_glob and e.name.startswith(incomplete)]


def complete_container(ctx: Any, incomplete: str) -> list[str]:
    """typer ``autocompletion=`` for a container NAME argument."""
    try:
        _apply_global_flags(ctx)
    except Exception:  # noqa: BLE001 - completion is silent on any error
        return []
    return container_names(incomplete)


def complete_branch(ctx: Any, incomplete: str) -> list[str]:
    """typer ``autocompletion=`` for ``--branch``."""
    try:
        _apply_global_flags(ctx)
    except Exception:  # noqa: BLE001 - completion is silent on any error
        return []
    return branch_names(incomplete)
