"""Which of root's requests a quick read answers in the service's own thread: only those
whose settings are the service's own (otherwise a job runs it with root's environment)."""

from __future__ import annotations

from pathlib import Path

from devbox.api import protocol
from devbox.api.server import Service
from devbox.config import load as load_config
from devbox.model.owners import Caller
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


class _Running:
    """What the limit reads of a job: whose it is and whether its process lives."""

    def __init__(self, caller: Caller, alive: bool = True) -> None:
        self.caller, self._alive = caller, alive

    def alive(self) -> bool:
        return self._alive


def test_one_user_may_run_only_so_many_jobs(tmp_path: Path) -> None:
    service = _service(tmp_path, {"DEVBOX_SERVICE_JOBS_PER_USER": "2"})
    alice = Caller(uid=4001, gid=4001, user="alice", groups=frozenset({"devbox"}))
    bob = Caller(uid=4002, gid=4002, user="bob", groups=frozenset({"devbox"}))
    root = Caller(uid=0, gid=0, user="root", groups=frozenset())
    service.jobs = {"1": _Running(alice), "2": _Running(alice, alive=False)}  # type: ignore[dict-item]
    assert service._over_job_limit(alice) is None  # one alive
    service.jobs["3"] = _Running(alice)  # type: ignore[assignment]
    refused = service._over_job_limit(alice)
    assert refused is not None and refused.status == 429
    assert b"alice has 2 devbox jobs running" in refused.body  # type: ignore[operator]
    assert service._over_job_limit(bob) is None  # the others' own count
    service.jobs.update({str(n): _Running(root) for n in range(4, 10)})  # type: ignore[misc]
    assert service._over_job_limit(root) is None  # root: no limit
