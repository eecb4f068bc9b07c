"""Each person checks out from Perforce as themselves: a user's ``dockeruser checkout`` runs in
the root service's job, yet as the Perforce user of the user's own devbox config, with the
ticket from the user's own ~/.p4tickets (no password asked), never as the service's Perforce
user with the service's tickets. The ticket lives in a one-ticket file of the job's own for
the job's time only and reaches no log.

Real parts: a real unix account (useradd, group devbox) running the CLI through ``runuser``,
the service root's CLI started (as root), its job, a container with its /opt bind mount. The
Perforce server is the fake at the P4Python boundary (tests.fakes.p4fake:from_state), in a
state file the service's job reaches through the service's own p4.factory setting.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devbox.model import labels
from devbox.paths import Layout
from tests.cli import run_cli
from tests.conftest import RUN_ID
from tests.fakes.p4fake import read_state, write_state
from tests.fixtures import engine as fx
from tests.fixtures.readme import P4Fake, p4_fake

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
USER = "dbxp4u"  # the unix account
P4USER, SERVICE_P4USER = "pat", "svc"  # the user's Perforce user, the service's
PORT = "perforce.example.com:1666"
MAP = '[[branch]]\nname = "main"\nvcs = "p4"\ndepot = "//depot/main"\n'


def _run(argv: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=300, **kw)


def _user_python() -> tuple[list[str], dict[str, str]]:
    """An interpreter other users may run (as tests/integration/test_shared_host.py)."""
    real = Path(os.path.realpath(sys.executable))
    if all(os.stat(p).st_mode & 0o001 for p in [real, *real.parents]):
        return [sys.executable], {}
    site = [p for p in sys.path if p.endswith("site-packages") and p.startswith(sys.prefix)]
    return ["/usr/bin/python3"], {"PYTHONPATH": ":".join([str(REPO), *site])}


@pytest.fixture
def account() -> Iterator[tuple[str, int]]:
    made_group = _run(["getent", "group", "devbox"]).returncode != 0
    if made_group:
        assert _run(["groupadd", "devbox"]).returncode == 0
    if _run(["getent", "passwd", USER]).returncode == 0:
        _run(["userdel", "-r", USER])
    made = _run(["useradd", "-m", "-s", "/bin/sh", "-G", "devbox", USER])
    assert made.returncode == 0, made.stderr
    try:
        yield USER, int(_run(["id", "-u", USER]).stdout)
    finally:
        _run(["userdel", "-r", USER])
        if made_group:
            _run(["groupdel", "devbox"])


@pytest.fixture
def service(
    tmp_path: Path, devbox_env: dict[str, str]
) -> Iterator[tuple[P4Fake, dict[str, str], str]]:
    """Root's CLI starts the service with its own Perforce settings: the service's Perforce
    user, with a valid ticket of its own in the service's ~/.p4tickets."""
    shared = Path(f"/run/devbox-test-{RUN_ID}-p4id")
    shared.mkdir(mode=0o755, exist_ok=True)
    shared.chmod(0o755)
    fake = p4_fake(
        tmp_path / "p4state.json",
        {
            "port": PORT,
            "users": {P4USER: "user-pw-" + secrets.token_hex(4), SERVICE_P4USER: "svc-pw"},
            "submit": {"//depot/main/a.c": "int a;\n"},
        },
    )
    server = read_state(fake.path)
    svc_ticket = secrets.token_hex(16).upper()
    server.tickets[svc_ticket] = SERVICE_P4USER
    write_state(server, fake.path)
    home = Path(devbox_env["HOME"])
    (home / ".p4tickets").write_text(f"{PORT}={SERVICE_P4USER}:{svc_ticket}\n")
    map_path = shared / "branches.toml"
    map_path.write_text(MAP)
    map_path.chmod(0o644)
    env = {
        **devbox_env,
        **fake.env(),
        "DEVBOX_SERVICE_SOCKET": str(shared / "devbox.sock"),
        "DEVBOX_BRANCHES_MAP": str(map_path),
        "DEVBOX_P4_PORT": PORT,
        "DEVBOX_P4_USER": SERVICE_P4USER,
    }
    try:
        started = run_cli(env, "dockeruser", "list-containers", "--json")
        assert started.returncode == 0, started.stderr
        yield fake, env, svc_ticket
    finally:  # devbox_env stops the service and unmounts the root's store
        shutil.rmtree(shared, ignore_errors=True)


def _as_user(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``devbox ARGS`` as USER, with nothing of root's environment but where the service is."""
    python, extra = _user_python()
    user_env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": f"/home/{USER}",
        "USER": USER,
        "NO_COLOR": "1",
        "DEVBOX_ROOT": env["DEVBOX_ROOT"],
        "DEVBOX_SERVICE_SOCKET": env["DEVBOX_SERVICE_SOCKET"],
        **extra,
    }
    argv = ["runuser", "-u", USER, "--", "env", "-i", *[f"{k}={v}" for k, v in user_env.items()]]
    return _run([*argv, *python, "-m", "devbox", *args], cwd=REPO, input="")


def _write_as_user(path: Path, text: str, uid: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o600)
    for p in (path, *[q for q in path.parents if str(q).startswith(f"/home/{USER}/")]):
        os.chown(p, uid, uid)


def _container(engine: Any, image: str, root: Path, user: str, uid: int) -> tuple[str, Any]:
    """A container of ``user``'s (owner labels, branch main) with its /opt bind mount."""
    name = fx.test_name("p4id")
    opt = Layout(root).opt_dir(name)
    opt.mkdir(parents=True)
    os.chown(opt, 1000, 1000)  # a container's /opt belongs to its dev user
    container = engine.containers.run(
        image,
        name=name,
        detach=True,
        labels={
            labels.ROLE: "dockeruser",
            labels.ROOT: str(root),
            labels.BRANCH: "main",
            labels.OWNER: user,
            labels.OWNER_UID: str(uid),
            fx.TEST_LABEL: RUN_ID,
        },
        volumes={str(opt): {"bind": "/opt", "mode": "rw"}},
    )
    return name, container


def test_a_users_checkout_runs_as_their_perforce_user_with_their_ticket(
    account: tuple[str, int],
    service: tuple[P4Fake, dict[str, str], str],
    engine: Any,
    busybox_image: str,
) -> None:
    user, uid = account
    fake, env, svc_ticket = service
    root = Path(env["DEVBOX_ROOT"])
    # what 'devbox dockeruser p4 setup' leaves: the user's config and their ticket
    ticket = secrets.token_hex(16).upper()
    server = read_state(fake.path)
    server.tickets[ticket] = P4USER
    write_state(server, fake.path)
    home = Path(f"/home/{user}")
    _write_as_user(
        home / ".config" / "devbox" / "config.toml",
        f'[p4]\nport = "{PORT}"\nuser = "{P4USER}"\n',
        uid,
    )
    _write_as_user(home / ".p4tickets", f"{PORT}={P4USER}:{ticket}\n", uid)

    name, container = _container(engine, busybox_image, root, user, uid)
    try:
        done = _as_user(env, "dockeruser", "checkout", name, "--password-stdin", "--json")
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        assert result["vcs"] == "p4" and result["files"] == 1
        server = fake.server()
        # the workspace is the user's Perforce user's, made with their ticket: no login
        assert server.clients[result["workspace"]]["Owner"] == P4USER
        assert server.logins == []
        code, content = container.exec_run(["cat", "/opt/src/a.c"])
        assert code == 0 and content == b"int a;\n"
        # the job's ticket file went with the job; the ticket is in no log, the audit hides it
        assert list((root / "run" / "p4-tickets").iterdir()) == []
        for path in (root / "logs").rglob("*"):
            if path.is_file():
                assert ticket.encode() not in path.read_bytes(), f"ticket in {path}"
        audit = [json.loads(x) for x in (root / "logs" / "audit.log").read_text().splitlines()]
        mine = [r for r in audit if r["user"] == user and r["command"] == "checkout"]
        assert mine and mine[-1]["args"]["p4"]["ticket"] == "<hidden>"
        assert mine[-1]["args"]["p4"]["user"] == P4USER
        # the service's own ticket file is untouched, its ticket not lent out
        assert (Path(env["HOME"]) / ".p4tickets").read_text() == (
            f"{PORT}={SERVICE_P4USER}:{svc_ticket}\n"
        )
    finally:
        container.remove(force=True)


def test_a_user_naming_the_services_perforce_user_does_not_get_its_ticket(
    account: tuple[str, int],
    service: tuple[P4Fake, dict[str, str], str],
    engine: Any,
    busybox_image: str,
) -> None:
    """The attack: a user sets p4.user to the service's Perforce user and has no ticket of
    it; the job must not find the service's own ticket (root's ~/.p4tickets) for them."""
    user, uid = account
    fake, env, _svc_ticket = service
    root = Path(env["DEVBOX_ROOT"])
    home = Path(f"/home/{user}")
    config = f'[p4]\nport = "{PORT}"\nuser = "{SERVICE_P4USER}"\n'
    _write_as_user(home / ".config" / "devbox" / "config.toml", config, uid)
    name, container = _container(engine, busybox_image, root, user, uid)
    try:
        done = _as_user(env, "dockeruser", "checkout", name, "--password-stdin")
        assert done.returncode == 2, done.stdout + done.stderr
        assert "empty Perforce password" in done.stderr
        server = fake.server()
        assert server.clients == {} and server.logins == []  # nothing made as the service
        assert list((root / "run" / "p4-tickets").iterdir()) == []
    finally:
        container.remove(force=True)
