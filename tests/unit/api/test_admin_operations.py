"""Every admin-only operation refuses a plain member of group devbox before it touches
anything (exit 2, naming the admin group), whatever the body asks."""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any

import pytest

from devbox import config
from devbox.api import admin_operations
from devbox.api.operations import Request
from devbox.api.routes import ROUTES
from devbox.errors import ExitCode, UserError
from devbox.model.owners import Caller

USER = Caller(uid=4321, gid=4321, user="dbxu9", groups=frozenset({"devbox"}))
ADMIN_ROUTES = [
    r for r in ROUTES if r.call is not None and r.call.__module__ == admin_operations.__name__
]


def _request(tmp_path: Path, caller: Caller, body: dict[str, Any]) -> Request:
    cfg = config.load(environ={"DEVBOX_ROOT": str(tmp_path / "root")}, files=())
    return Request(cfg, caller, body, lambda _event: None)


def test_every_admin_operation_has_a_route() -> None:
    ops = {
        name
        for name, fn in inspect.getmembers(admin_operations, inspect.isfunction)
        if fn.__module__ == admin_operations.__name__ and not name.startswith("_")
    }
    assert ops == {r.call.__name__ for r in ADMIN_ROUTES if r.call is not None}
    assert len(ADMIN_ROUTES) == 16


@pytest.mark.parametrize("route", ADMIN_ROUTES, ids=lambda r: r.op)
def test_a_plain_user_is_refused(route: Any, tmp_path: Path) -> None:
    body = {"name": "x", "password": "longenough-1", "container": "x", "image": "x"}
    req = _request(tmp_path, USER, body)
    args = {"name": "x"} if "{name}" in route.path else {}
    with pytest.raises(UserError) as refused:
        route.call(req, **args)
    assert refused.value.exit_code == ExitCode.USER
    assert "devbox-admin" in refused.value.message and "dbxu9" in refused.value.message
    assert not (tmp_path / "root").exists(), "refused, yet something was made"


def test_registry_user_add_needs_a_password(tmp_path: Path) -> None:
    admin = Caller(uid=4322, gid=4322, user="dbxa9", admin=True)
    with pytest.raises(UserError, match="no password given"):
        admin_operations.registry_user_add(_request(tmp_path, admin, {"name": "alice"}))


def test_one_lab_up_or_down_at_a_time(tmp_path: Path) -> None:
    """A second lab up/down while one runs fails at once naming the first (nothing made)."""
    from devbox import locks
    from devbox.paths import Layout

    root = Caller(uid=0, gid=0, user="root", admin=True)
    req = _request(tmp_path, root, {"hosts": 1})
    lock = locks.lock_path(Layout(req.cfg.root).locks, "lab", "lab")

    def held(fd: int) -> UserError:
        return UserError("held")

    with locks.hold(lock, 0.0, held) as fd:
        os.pwrite(fd, b"4242\n", 0)
        for op in (admin_operations.lab_up, admin_operations.lab_down):
            with pytest.raises(UserError, match=r"changing the lab LAN \(pid 4242\)"):
                op(req)
    assert not (tmp_path / "root" / "lab").exists()  # nothing of a lab was made
