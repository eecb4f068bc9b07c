"""Fixtures of the fault suite (issue 12): one lab LAN with short (2 minute) leases for the
whole package, a bystander dev container whose /opt every case checksums, the real ``devbox``
CLI in subprocesses, kill -9 at a step boundary, and the table printed at the end.

Short by default (CI); ``DEVBOX_FAULTS_LONG=1`` runs the long version, ``bench/faults.py
--full`` the full one (``DEVBOX_FAULTS_LONG=full``).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.cli import run_devbox, start_devbox
from tests.conftest import RUN_ID
from tests.faults import table
from tests.faults.leaks import Report, Snapshot, check, snapshot
from tests.fixtures.engine import TEST_LABEL

LEVEL = os.environ.get("DEVBOX_FAULTS_LONG", "")
LONG = LEVEL not in ("", "0")
FULL = LEVEL == "full"


def pick(short: int, long: int, full: int) -> int:
    return full if FULL else long if LONG else short


@dataclass
class Killed:
    killed: bool  # False: it ended before the marker showed
    rc: int | None
    out: str
    err: str


@dataclass
class Background:
    """A devbox command started by ``FaultEnv.background``."""

    proc: subprocess.Popen[str]
    path: Path  # its output: .o (stdout) and .e (stderr)

    def output(self) -> tuple[str, str]:
        return self.path.with_suffix(".o").read_text(), self.path.with_suffix(".e").read_text()


def ready_while_running(
    proc: subprocess.Popen[str], ready: Callable[[], bool], timeout: float
) -> bool:
    """True once ``ready()`` says so while ``proc`` runs (polled every 10 ms, bounded by
    ``timeout``); False when it ended first or the time is up."""
    from devbox.waits import poll

    def state() -> str | None:
        if proc.poll() is not None:
            return "ended"
        return "ready" if ready() else None

    return poll(state, timeout, 0.01) == "ready"


@dataclass
class FaultEnv:
    env: dict[str, str]
    root: Path
    home: Path
    lab: Any
    bystander: str
    tmp: Path
    repo: Path
    names: list[str] = field(default_factory=list)
    client: Any = None  # the engine of this root (None: DOCKER_HOST of the test process)

    def push_commit(self, files: int = 200) -> None:
        """A new commit on main of the repository the containers check out."""
        from tests.fixtures.devcontainers import _git

        work = self.tmp / "repo" / "work"
        stamp = str(time.monotonic_ns())
        d = work / "gen" / stamp
        d.mkdir(parents=True)
        for i in range(files):
            (d / f"f{i}.c").write_text(f"int f{i}(void) {{ return {i}; }} /* {stamp} */\n" * 50)
        _git("add", ".", cwd=work)
        _git("commit", "-q", "-m", f"more {stamp}", cwd=work)
        _git("push", "-q", str(self.repo), "main", cwd=work)

    def cfg(self) -> Any:
        from devbox import config

        return config.load(environ=dict(self.env), files=())

    def name(self, tag: str) -> str:
        import secrets

        n = f"dbxt{RUN_ID}{tag}{secrets.token_hex(2)}"
        self.names.append(n)
        return n

    def full_env(self) -> dict[str, str]:
        return {**os.environ, **self.env}

    def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return run_devbox(args, self.full_env(), timeout=timeout)

    def log(self, name: str) -> Path:
        return self.root / "logs" / f"{name}.log"

    def kill_when(self, args: list[str], ready: Callable[[], bool], timeout: float = 300) -> Killed:
        """Run ``devbox ARGS``; kill -9 the moment ``ready()`` says so (polled every 10 ms,
        bounded by ``timeout``) the process doing the work -- the service's job for it --
        and the CLI. (Killing only the CLI cancels the job, which then rolls back: that is
        not a crash.)"""
        from tests.fixtures.service_jobs import job_pids

        with self.background(args, "out") as bg:
            proc = bg.proc
            killed = False
            try:
                if ready_while_running(proc, ready, timeout):
                    for pid in [*job_pids(self.cfg()), proc.pid]:
                        with contextlib.suppress(ProcessLookupError):  # ended just now
                            os.kill(pid, signal.SIGKILL)
                    killed = True
                if not killed and proc.poll() is None:
                    proc.kill()
                    killed = True
            finally:
                rc = proc.wait(timeout=60)
        return Killed(killed, rc, *bg.output())

    @contextmanager
    def background(self, args: list[str], stem: str) -> Iterator[Background]:
        """``devbox ARGS`` started in the background, its stdout and stderr into files under
        ``tmp`` (closed at exit; ``output()`` reads them)."""
        path = self.tmp / f"{stem}{time.monotonic_ns()}"
        with path.with_suffix(".o").open("w") as out, path.with_suffix(".e").open("w") as err:
            yield Background(start_devbox(args, self.full_env(), out, err), path)

    def log_marker(self, name: str, marker: str) -> Callable[[], bool]:
        """True once ``marker`` is in ``name``'s log after what is there now."""
        path = self.log(name)
        start = path.stat().st_size if path.exists() else 0

        def ready() -> bool:
            try:
                with path.open("rb") as fh:
                    fh.seek(start)
                    return marker.encode() in fh.read()
            except FileNotFoundError:
                return False

        return ready

    def snap(self) -> Snapshot:
        return snapshot(self.root, self.lab.uplink)

    def check(
        self, snap: Snapshot, gone: set[str], expected: set[str] | None = None, settle: float = 3.0
    ) -> Report:
        keep = ({self.bystander} if self.bystander else set()) | (expected or set())
        return check(snap, keep, gone, home=self.home, client=self.client, settle=settle)

    def make(self, name: str, *extra: str) -> dict[str, Any]:
        res = self.cli(
            "dockeruser", "make-dev-container", name, "--branch", "main", "--json", *extra
        )
        assert res.returncode == 0, res.stderr[-3000:]
        return dict(json.loads(res.stdout))

    def remove(self, name: str) -> subprocess.CompletedProcess[str]:
        return self.cli("dockeruser", "remove-dev-container", name, "--yes", "--purge")


def _bystander_files(opt: Path) -> None:
    """User data a fault must never touch: a few files, one of 1 MB, one in a subfolder."""
    data = opt / "user-data"
    (data / "deep" / "er").mkdir(parents=True, exist_ok=True)
    (data / "notes.txt").write_text("keep me\n")
    (data / "deep" / "er" / "blob.bin").write_bytes(os.urandom(1024 * 1024))
    for i in range(20):
        (data / f"f{i}.txt").write_text(f"file {i}\n" * (i + 1))


@pytest.fixture(scope="package")
def faults(
    engine: Any, dev_image: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FaultEnv]:
    from devbox.services import container_lifecycle
    from devbox.services import lab as labsvc
    from tests.fixtures.devcontainers import make_repo
    from tests.fixtures.lab import lab_settings, teardown_lab

    base = tmp_path_factory.mktemp(f"faults{RUN_ID}")
    dev_repo = make_repo(base / "repo")  # its own: checkout --update gets new commits
    lab = lab_settings("f", base / "root")
    lab.root.mkdir()
    lab.env["DEVBOX_LAB_LEASE_TIME"] = "2m"  # dnsmasq's minimum
    lab.env["DEVBOX_LAB_RENEWAL_TIME"] = "20"  # T1: renewals every 20 s (kill mid-renewal)
    home = base / "home"
    home.mkdir()
    branch_map = base / "branches.toml"
    branch_map.write_text(
        f'[[branch]]\nname = "main"\nvcs = "git"\nurl = "{dev_repo}"\nref = "main"\n'
        f'image = "{dev_image}"\nlicense = "dev-main"\n'
    )
    env = {
        **lab.env,
        "HOME": str(home),
        "DEVBOX_LABELS": f"{TEST_LABEL}={RUN_ID}",
        "DEVBOX_BRANCHES_MAP": str(branch_map),
        "DEVBOX_SSH_TIMEOUT": "60",
    }
    fe = FaultEnv(env=env, root=lab.root, home=home, lab=lab, bystander="", tmp=base, repo=dev_repo)
    try:
        labsvc.up(lab.cfg())
        fe.bystander = fe.name("by")
        summary = fe.make(fe.bystander)
        _bystander_files(Path(summary["opt_dir"]))
        yield fe
    finally:
        cfg = fe.cfg()
        for name in reversed(fe.names):
            try:
                container_lifecycle.remove(cfg, name, purge=True, force=True)
            except Exception:  # noqa: BLE001 - next: the label sweep
                pass
        for ctr in engine.containers.list(
            all=True,  # type: ignore[attr-defined]
            filters={"label": f"{TEST_LABEL}={RUN_ID}"},
        ):
            if ctr.labels.get("devbox.root") == str(lab.root):
                ctr.remove(force=True)
        try:
            from devbox.services import clone_storage

            clone_storage.gc_snapshots(cfg)
        except Exception:  # noqa: BLE001 - best effort
            pass
        teardown_lab(lab)
        from devbox.adapters.host import mounts

        mounts.unmount(lab.root / "containers")  # devbox.migrate's nosuid bind of it


@dataclass
class PrivateEngine:
    """A dockerd of the fault suite's own (``tests.fixtures.lab.PrivateDockerd``: own socket,
    data-root and netns) holding the dev image, for cases that restart dockerd: the machine's
    shared dockerd is never stopped."""

    dockerd: Any  # tests.fixtures.lab.PrivateDockerd
    image: str

    @property
    def host(self) -> str:
        return str(self.dockerd.host)

    def client(self) -> Any:
        return self.dockerd.client()

    def restart(self) -> None:
        self.dockerd.stop()
        self.dockerd.start()


def load_image(shared: Any, private: Any, image: str) -> None:
    """Copy ``image`` from the shared engine into ``private`` (streamed ``docker save`` ->
    ``docker load``, ~600 MB for the dev image); nothing to do when its id is there already."""
    want = shared.images.get(image).id
    try:
        if private.images.get(image).id == want:
            return
    except Exception:  # noqa: BLE001 - not there yet
        pass
    stream = shared.api.get_image(image, chunk_size=4 * 1024 * 1024)  # the tar names the tag
    for msg in private.api.load_image(stream, quiet=True) or ():  # bounded: one tar
        if isinstance(msg, dict) and msg.get("error"):
            raise RuntimeError(f"loading {image} into the private dockerd: {msg['error']}")
    got = private.images.get(image).id
    assert got == want, f"loaded {image} as {got}, the shared engine has {want}"


@pytest.fixture(scope="package")
def private_engine(engine: Any, dev_image: str) -> Iterator[PrivateEngine]:
    """One private dockerd for the package, the dev image loaded once."""
    from tests.fixtures.lab import running_private_dockerd

    with running_private_dockerd("fk") as d:
        load_image(engine, d.client(), dev_image)
        yield PrivateEngine(d, dev_image)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if table.ROWS:
        terminalreporter.write_line("")
        for line in table.render().splitlines():
            terminalreporter.write_line(line)
    out = os.environ.get("DEVBOX_FAULTS_TABLE")
    if out and table.ROWS:
        table.dump(Path(out))
