"""The audit log keeps who did what, never a secret: the registry password sent in a
request's body (``registryserver user add``), SSH keys and tokens come out hidden, through
the service's own audit path."""

from __future__ import annotations

from pathlib import Path

from devbox import config
from devbox.api.routes import ROUTES
from devbox.api.server import Service
from devbox.model.owners import Caller
from devbox.oplog import OpLog
from devbox.paths import Layout
from devbox.state import audit_log

PASSWORD = "s3cret-registry-pass"


def test_redact_hides_every_secret_field() -> None:
    body = {"name": "alice", "password": PASSWORD, "public_keys": ["ssh-ed25519 AAAA"], "n": 1}
    out = audit_log.redact(body)
    assert out == {"name": "alice", "password": "<hidden>", "public_keys": "<hidden>", "n": 1}
    assert body["password"] == PASSWORD  # the request's own body is untouched


def test_registry_user_add_never_writes_the_password(tmp_path: Path) -> None:
    cfg = config.load(environ={"DEVBOX_ROOT": str(tmp_path / "root")}, files=())
    service = Service(cfg, OpLog(None))
    route = next(r for r in ROUTES if r.op == "registry_user_add")
    assert route.changes  # it is audited at all
    assert "password" in audit_log.SECRET_FIELDS
    caller = Caller(uid=1234, gid=1234, user="dbxa9", admin=True)
    body = {"name": "alice", "password": PASSWORD, "no_login": False}
    service._audit(route, caller, "alice", body, {"event": "result", "data": {}}, 0.5)
    failed = {"event": "error", "exit": 2, "message": "password too short"}
    service._audit(route, caller, "alice", body, failed, 0.1)
    text = Layout(cfg.root).audit_log.read_text()
    assert PASSWORD not in text
    records = audit_log.read(Layout(cfg.root))
    assert [r["result"] for r in records] == ["ok", "error"]
    assert all(r["args"]["password"] == "<hidden>" and r["target"] == "alice" for r in records)
