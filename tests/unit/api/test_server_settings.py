"""Which of root's requests a quick read answers in the service's own thread: only those
whose settings are the service's own (otherwise a job runs it with root's environment)."""

from __future__ import annotations

from pathlib import Path

from devbox.api import protocol
from devbox.api.server import Service
from devbox.config import load as load_config
from devbox.oplog import OpLog


def _service(tmp_path: Path, environ: dict[str, str]) -> Service:
    cfg = load_config(environ={"DEVBOX_ROOT": str(tmp_path), **environ}, files=())
    return Service(cfg, OpLog(tmp_path / "log"))


def test_a_user_and_root_with_the_services_settings_are_answered_here(tmp_path: Path) -> None:
    environ = {"PATH": "/usr/bin", "HOME": "/root", "DOCKER_HOST": "unix:///run/d.sock"}
    service = _service(tmp_path, environ)
    assert service._own_settings(None)
    mine = protocol.forwarded_environ({"DEVBOX_ROOT": str(tmp_path), **environ})
    assert service._own_settings((mine, {}))


def test_root_with_other_settings_or_flags_gets_a_job(tmp_path: Path) -> None:
    environ = {"PATH": "/usr/bin", "HOME": "/root"}
    service = _service(tmp_path, environ)
    mine = protocol.forwarded_environ({"DEVBOX_ROOT": str(tmp_path), **environ})
    assert not service._own_settings(({**mine, "DOCKER_HOST": "tcp://elsewhere"}, {}))
    assert not service._own_settings(({k: v for k, v in mine.items() if k != "HOME"}, {}))
    assert not service._own_settings((mine, {"root": "/srv/other"}))
