"""The whole Perforce flow against a real server, with the real P4Python.

Runs only when a server is given (none can run on the CI machines):

    DEVBOX_TEST_P4PORT=ssl:p4.example.com:1666 DEVBOX_TEST_P4USER=me \\
    DEVBOX_TEST_P4PASSWD=... [DEVBOX_TEST_P4DEPOT=//depot/main] \\
    pytest tests/integration/test_p4_live.py

The depot path must hold at least one submitted file. The test makes one workspace named after
the run id and deletes it again.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from devbox.adapters import p4 as p4adapter
from devbox.config import Config
from devbox.config import load as load_config
from devbox.errors import NotReadyError, UserError
from devbox.oplog import OpLog
from devbox.paths import Layout
from devbox.services import checkout as service
from tests import skips
from tests.fixtures import engine as fx

pytestmark = [
    pytest.mark.integration,
    skips.needs_p4_server,  # the allow-listed skip (tests/skips.py)
]

PORT = os.environ.get("DEVBOX_TEST_P4PORT", "")
USER = os.environ.get("DEVBOX_TEST_P4USER", "")
PASSWD = os.environ.get("DEVBOX_TEST_P4PASSWD", "")
DEPOT = os.environ.get("DEVBOX_TEST_P4DEPOT", "//depot").rstrip("/")


@dataclass
class Live:
    cfg: Config
    root: Path
    environ: dict[str, str]


@pytest.fixture
def live(tmp_path: Path) -> Live:
    map_path = tmp_path / "branches.toml"
    map_path.write_text(f"""
[[branch]]
name = "live"
vcs = "p4"
depot = "{DEPOT}"

[[branch]]
name = "missing"
vcs = "p4"
depot = "{DEPOT}/devbox-no-such-path-{fx.test_name("x")}"
""")
    root = tmp_path / "root"
    environ = {
        "DEVBOX_ROOT": str(root),
        "DEVBOX_P4_PORT": PORT,
        "DEVBOX_P4_USER": USER,
        "DEVBOX_BRANCHES_MAP": str(map_path),
        "P4TICKETS": str(tmp_path / "tickets"),
    }
    return Live(load_config(environ=environ, files=()), root, environ)


def test_live_checkout_update_remove(live: Live) -> None:
    cfg, root = live.cfg, live.root
    name = fx.test_name("p4live")
    opt = Layout(root).opt_dir(name)
    log = OpLog(root / "logs" / f"{name}.log")
    events: list[float] = []
    try:
        result = service.checkout(
            cfg,
            name,
            "live",
            opt,
            log=log,
            password=lambda: PASSWD,
            progress=lambda done, total, detail: events.append(done),
        )
        assert result.revision.isdigit() and int(result.revision) > 0
        assert result.files > 0
        synced = [p for p in Path(result.path).rglob("*") if p.is_file()]
        assert len(synced) == result.files
        assert events and events[-1] == result.transferred
        record = json.loads((Layout(root).container_dir(name) / "checkout.json").read_text())
        assert record["revision"] == result.revision
        again = service.checkout(
            cfg, name, "live", opt, update=True, log=log, password=lambda: PASSWD
        )
        assert int(again.revision) >= int(result.revision)
        assert again.transferred == 0 or again.revision != result.revision
    finally:
        removed = service.remove_workspace(cfg, name, force=True, log=log, password=lambda: PASSWD)
    assert removed
    settings = p4adapter.P4Settings.from_config(cfg)
    with p4adapter.P4Session(settings, password=lambda: PASSWD) as session:
        assert not session.workspace_exists(result.workspace)
    assert any(opt.rglob("*")), "removing the workspace must keep the files in /opt"
    assert PASSWD.encode() not in (root / "logs" / f"{name}.log").read_bytes()


def test_live_errors(live: Live, tmp_path: Path) -> None:
    cfg, root = live.cfg, live.root
    with pytest.raises(UserError, match="unknown depot path"):
        service.checkout(
            cfg, fx.test_name("p4miss"), "missing", root / "m" / "opt", password=lambda: PASSWD
        )
    bad_login = load_config(
        environ={**live.environ, "P4TICKETS": str(tmp_path / "empty-tickets")}, files=()
    )
    with pytest.raises(UserError, match="Perforce login failed"):
        service.checkout(
            bad_login,
            fx.test_name("p4pw"),
            "live",
            root / "p" / "opt",
            password=lambda: PASSWD + "-wrong",
        )
    bad_port = load_config(environ={**live.environ, "DEVBOX_P4_PORT": "127.0.0.1:1"}, files=())
    with pytest.raises(NotReadyError, match="cannot reach the Perforce server"):
        service.checkout(
            bad_port, fx.test_name("p4port"), "live", root / "q" / "opt", password=lambda: PASSWD
        )
