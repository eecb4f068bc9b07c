"""The body checks of the user operations: a bad value is a one-line user error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devbox import config
from devbox.api import user_operations as ops
from devbox.api.operations import Request
from devbox.errors import UserError
from devbox.model.owners import Caller

USER = Caller(uid=4321, gid=4321, user="dbxu9", groups=frozenset({"devbox"}))


def _request(tmp_path: Path, body: dict[str, Any]) -> Request:
    cfg = config.load(environ={"DEVBOX_ROOT": str(tmp_path / "root")}, files=())
    return Request(cfg, USER, body, lambda _event: None)


def test_body_values(tmp_path: Path) -> None:
    req = _request(tmp_path, {"names": ["a", "b"], "jobs": "4", "timeout": "2.5", "vlan": 7})
    assert ops.strings(req, "names") == ["a", "b"]
    assert ops.strings(req, "missing") == []
    assert ops.integer(req, "jobs") == 4 and ops.integer(req, "vlan") == 7
    assert ops.integer(req, "missing") is None and ops.integer(req, "missing", 16) == 16
    assert ops.number(req, "timeout", 1.0) == 2.5 and ops.number(req, "missing", 1.0) == 1.0


@pytest.mark.parametrize(
    ("key", "value", "check"),
    [
        ("names", "a", ops.strings),
        ("names", [1], ops.strings),
        ("jobs", "many", ops.integer),
        ("jobs", 1.5, ops.integer),
        ("jobs", True, ops.integer),
        ("timeout", "soon", lambda r, k: ops.number(r, k, 1.0)),
    ],
)
def test_bad_body_values_are_user_errors(tmp_path: Path, key: str, value: Any, check: Any) -> None:
    with pytest.raises(UserError, match=key):
        check(_request(tmp_path, {key: value}), key)


def test_prune_needs_a_positive_duration(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="stopped_for"):
        ops.stale_combos(_request(tmp_path, {"stopped_for": "0"}))
