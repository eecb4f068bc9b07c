"""Operations any member of group ``devbox`` may call, each on what the caller owns (root and
the admin group on all): run-on, prune-combos, the image list. As in
:mod:`devbox.api.operations`: check, then one service call."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from devbox.errors import UserError
from devbox.model import owners

if TYPE_CHECKING:
    from devbox.api.operations import Request
    from devbox.services.runon import RunResult


def strings(req: Request, key: str) -> list[str]:
    value = req.body.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UserError(f"'{key}' must be a list of strings")
    return list(value)


def number(req: Request, key: str, default: float) -> float:
    value = req.body.get(key, default)
    if isinstance(value, bool):
        raise UserError(f"'{key}' must be a number")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise UserError(f"'{key}' must be a number") from None


def integer(req: Request, key: str, default: int | None = None) -> int | None:
    value = req.body.get(key, default)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise UserError(f"'{key}' must be a whole number")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise UserError(f"'{key}' must be a whole number") from None


# ---- run-on --------------------------------------------------------------------------------
def run_on(req: Request) -> list[dict[str, Any]]:
    """One command on many containers over SSH (devbox's key, known host keys only); a user
    only on containers they own. Each container's result streams as it comes in."""
    from devbox.services import runon

    names, clones_of = strings(req, "names"), req.text("clones_of")
    command = req.text("command") or ""
    if req.flag("here_only"):  # one host of a run over all (run-on --all-hosts)
        chosen = runon.targets_here(names, clones_of)
        if not chosen:
            return []
    else:
        chosen = runon.targets(names, clones_of)
    if not req.caller.admin:
        found = runon.found_here(chosen)  # one list of the engine's, not an inspect each
        for name in chosen:
            st = found.get(name)
            if st is not None:  # a missing one is a row of the result, as for an admin
                owners.require_may_act(req.caller, name, st.labels, "run commands on")
    reporter = req.reporter("run-on")
    lock = threading.Lock()
    done = [0]

    def on_done(result: RunResult) -> None:
        with lock:
            done[0] += 1
            reporter.started(done[0], len(chosen), result.name)
            if result.ok:
                tail = result.tail(1)
                reporter.finished(result.name, result.seconds, tail[0] if tail else "exit 0")
            else:
                code = "-" if result.exit_code is None else str(result.exit_code)
                reporter.failed(result.name, result.seconds, result.error or f"exit {code}")

    results = runon.run_on(
        req.cfg,
        chosen,
        command,
        jobs=integer(req, "jobs", 16) or 16,
        timeout=number(req, "timeout", 600.0),
        on_done=on_done,
    )
    return [r.to_dict() for r in results]


# ---- prune-combos --------------------------------------------------------------------------
def _own(req: Request, names: list[str]) -> list[str]:
    """``names`` the caller may remove: all for an admin, their own for a user."""
    if req.caller.admin:
        return names
    from devbox.services import tenancy

    mine = {name for name, _ in tenancy.owned(req.cfg, req.caller)}
    return [n for n in names if n in mine]


def _stale(req: Request) -> list[str]:
    from devbox.services import combos

    seconds = number(req, "stopped_for", 30 * 86400.0)
    if seconds <= 0:
        raise UserError("'stopped_for' must be positive")
    return _own(req, combos.stale(req.cfg, seconds))


def stale_combos(req: Request) -> dict[str, Any]:
    """The combos stopped for ``stopped_for`` seconds or more that the caller may prune."""
    return {"candidates": _stale(req)}


def prune_combos(req: Request) -> dict[str, Any]:
    """Remove the ``names`` the caller confirmed, those still stale and theirs only."""
    from devbox.services import combos

    stale = set(_stale(req))
    chosen = [n for n in strings(req, "names") if n in stale]
    return combos.prune(req.cfg, chosen, purge=req.flag("purge")).to_dict()


# ---- images --------------------------------------------------------------------------------
def list_images(req: Request) -> list[dict[str, Any]]:
    from devbox.services import images

    return images.list_images(req.cfg)


# ---- common net connect (an ssh ProxyCommand through the service) ----------------------------
def _port(req: Request) -> int:
    port = integer(req, "port")
    port = 22 if port is None else port
    if not 1 <= port <= 65535:
        raise UserError(f"port {port} is not a TCP port (1-65535)")
    return port


def reach(req: Request, name: str) -> dict[str, Any]:
    """Whether the caller may connect to ``name``'s LAN address (theirs, or an admin), and
    where that is: the check ``connect`` makes again before it relays a byte."""
    from devbox.services import host_reach, tenancy

    tenancy.require_container(req.cfg, req.caller, name, "connect to")
    return {"container": name, "port": _port(req), "ip": host_reach.lan_address(req.cfg, name)}


def connect_socket(req: Request, name: str) -> Any:
    """A connected TCP socket to ``name``'s LAN address and port (the service relays it over
    the request's WebSocket): through the host shim or made inside the container's netns."""
    from devbox.services import host_reach, tenancy

    tenancy.require_container(req.cfg, req.caller, name, "connect to")
    return host_reach.connect(req.cfg, name, _port(req))
