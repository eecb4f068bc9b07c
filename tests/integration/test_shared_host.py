"""A shared host: the devbox service does the privileged work, each person uses devbox as
themselves. Real unix accounts made here (useradd; groups devbox and devbox-admin), the
service (``devbox common daemon``) running as root, every user command through ``runuser``,
real ssh into a real dev container on the lab LAN."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RUN_ID
from tests.waits import wait_for

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
USER1, USER2, OUTSIDER, ADMIN = "dbxu1", "dbxu2", "dbxu3", "dbxa1"
GROUPS = ("devbox", "devbox-admin")
MEMBERS = {USER1: ["devbox"], USER2: ["devbox"], OUTSIDER: [], ADMIN: ["devbox", "devbox-admin"]}
HEAVY = ("docker", "pyroute2", "paramiko", "jinja2", "P4", "requests", "urllib3")


def _run(argv: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=300, **kw)


@pytest.fixture(scope="module")
def accounts() -> Iterator[None]:
    made_groups = []
    for group in GROUPS:
        if _run(["getent", "group", group]).returncode != 0:
            assert _run(["groupadd", group]).returncode == 0
            made_groups.append(group)
    for user, groups in MEMBERS.items():
        if _run(["getent", "passwd", user]).returncode == 0:
            _run(["userdel", "-r", user])
        argv = ["useradd", "-m", "-s", "/bin/sh"]
        if groups:
            argv += ["-G", ",".join(groups)]
        made = _run([*argv, user])
        assert made.returncode == 0, made.stderr
        key = _run(
            [
                "runuser",
                "-u",
                user,
                "--",
                "ssh-keygen",
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-f",
                f"/home/{user}/.ssh/id_ed25519",
            ]
        )
        assert key.returncode == 0, key.stderr
    try:
        yield
    finally:
        for user in MEMBERS:
            _run(["pkill", "-u", user])
            _run(["userdel", "-r", user])
        for group in made_groups:
            _run(["groupdel", group])


@dataclass
class Host:
    env: dict[str, str]  # the service's and every client's devbox settings
    shared: Path  # world-readable: the socket, the branch map, the quota table
    root: Path

    def as_user(self, user: str, *args: str, python: tuple[str, ...] = ()) -> Any:
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": f"/home/{user}",
            "USER": user,
            "NO_COLOR": "1",
            **{k: v for k, v in self.env.items() if k.startswith("DEVBOX_")},
        }
        argv = ["runuser", "-u", user, "--", "env", "-i"]
        argv += [f"{k}={v}" for k, v in env.items()]
        python_argv, extra = _user_python()
        argv[6:6] = [f"{k}={v}" for k, v in extra.items()]
        argv += [*python_argv, *python, "-m", "devbox", *args]
        return _run(argv, cwd=REPO)

    def audit(self) -> list[dict[str, Any]]:
        path = self.root / "logs" / "audit.log"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture(scope="module")
def host(accounts: None, lab: Any, dev_image: str, dev_repo: Path) -> Iterator[Host]:
    shared = Path(f"/run/devbox-test-{RUN_ID}")
    shared.mkdir(mode=0o755, exist_ok=True)
    shared.chmod(0o755)
    branch_map = shared / "branches.toml"
    branch_map.write_text(
        f'[[branch]]\nname = "main"\nvcs = "git"\nurl = "{dev_repo}"\nref = "main"\n'
        f'image = "{dev_image}"\n'
    )
    branch_map.chmod(0o644)
    quotas = shared / "quotas.toml"
    quotas.write_text(f"[{USER1}]\ncontainers = 1\n")
    quotas.chmod(0o644)
    env = {
        **lab.env,
        "DEVBOX_SERVICE_SOCKET": str(shared / "devbox.sock"),
        "DEVBOX_BRANCHES_MAP": str(branch_map),
        "DEVBOX_QUOTA_USERS": str(quotas),
        "DEVBOX_SSH_TIMEOUT": "60",
    }
    log = (lab.root / f"service-{RUN_ID}.out").open("wb")
    service = subprocess.Popen(
        [sys.executable, "-m", "devbox", "common", "daemon"],
        cwd=REPO,
        env={**os.environ, **env, "HOME": "/root"},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for((shared / "devbox.sock").exists, 30, "the service's socket")
        yield Host(env=env, shared=shared, root=lab.root)
    finally:
        service.send_signal(signal.SIGTERM)
        try:
            service.wait(timeout=150)
        except subprocess.TimeoutExpired:
            service.kill()
            service.wait(timeout=30)
        log.close()
        from devbox.adapters.docker import containers as dc
        from devbox.model import labels

        for st in dc.list_labeled(labels.ROLE):
            if st.labels.get(labels.ROOT) == str(lab.root):
                from devbox.services import container_lifecycle

                container_lifecycle.remove(lab.cfg(), st.name, purge=True, force=True)
        shutil.rmtree(shared, ignore_errors=True)


def _user_python() -> tuple[list[str], dict[str, str]]:
    """An interpreter other users may run: this one, unless it lives under a private home
    (pyenv under /root), then the system's python3 of the same minor version with this
    venv's packages on its path."""
    real = Path(os.path.realpath(sys.executable))
    if all(os.stat(p).st_mode & 0o001 for p in [real, *real.parents]):
        return [sys.executable], {}
    site = [p for p in sys.path if p.endswith("site-packages") and p.startswith(sys.prefix)]
    return ["/usr/bin/python3"], {"PYTHONPATH": ":".join([str(REPO), *site])}


def _proxied_ssh(host: Host, user: str, name: str, *command: str) -> Any:
    """``ssh NAME COMMAND`` as ``user`` with ``devbox common net connect NAME %p`` as its
    ProxyCommand (the entry devbox writes when the host cannot reach the LAN address)."""
    python_argv, extra = _user_python()
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": f"/home/{user}",
        "USER": user,
        **{k: v for k, v in host.env.items() if k.startswith("DEVBOX_")},
        **extra,
    }
    proxy = shlex.join([*python_argv, "-m", "devbox", "common", "net", "connect", name]) + " %p"
    argv = ["runuser", "-u", user, "--", "env", "-i", *[f"{k}={v}" for k, v in env.items()]]
    argv += ["ssh", "-o", "BatchMode=yes", "-o", f"ProxyCommand={proxy}", name, *command]
    return _run(argv, cwd=REPO)


AUTHORIZED_KEYS = "/home/dev/.ssh/authorized_keys"


def _public_key(user: str) -> str:
    """``user``'s public key (the key part of its id_ed25519.pub line)."""
    return Path(f"/home/{user}/.ssh/id_ed25519.pub").read_text().split()[1]


def _ok(result: Any) -> Any:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def _refused(result: Any, code: int, text: str) -> None:
    assert result.returncode == code, f"exit {result.returncode}: {result.stderr}"
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and text in lines[0], result.stderr


def test_a_user_outside_group_devbox_is_refused_at_the_socket(host: Host) -> None:
    result = host.as_user(OUTSIDER, "list-containers")
    _refused(result, 3, "permission denied on the devbox service's socket")
    assert "usermod -aG devbox" in result.stderr


def test_users_own_their_containers(host: Host) -> None:
    name = f"u1box{RUN_ID}"
    # dbxu1 makes a container without sudo; the client imports nothing heavy
    made = _ok(
        host.as_user(
            USER1,
            "make-dev-container",
            name,
            "--branch",
            "main",
            "--no-checkout",
            "--json",
            python=("-X", "importtime"),
        )
    )
    imported = {
        ln.split("|")[-1].strip().split(".")[0]
        for ln in made.stderr.splitlines()
        if ln.startswith("import time:")
    }
    assert not imported & set(HEAVY), imported & set(HEAVY)
    info = json.loads(made.stdout)
    assert info["name"] == name and info["ip"]

    # dbxu1 reaches it with plain ssh NAME and with devbox ssh, using dbxu1's own key
    config = Path(f"/home/{USER1}/.ssh/config.d/devbox")
    assert config.stat().st_uid == int(_run(["id", "-u", USER1]).stdout)
    assert "IdentityFile" not in config.read_text()
    plain = _run(["runuser", "-u", USER1, "--", "ssh", "-o", "BatchMode=yes", name, "id", "-un"])
    assert plain.returncode == 0 and plain.stdout.strip() == "dev", plain.stderr
    _ok(host.as_user(USER1, "ssh", name, "--", "true"))
    # and through the service's relay (the ProxyCommand of a host without a shim on the LAN):
    # dbxu1 cannot enter the container's netns, the service holds the connection for it
    relayed = _proxied_ssh(host, USER1, name, "id", "-un")
    assert relayed.returncode == 0 and relayed.stdout.strip() == "dev", relayed.stderr

    # dbxu2 sees it, with its owner, and may do nothing to it
    rows = json.loads(_ok(host.as_user(USER2, "list-containers", "--json", "--no-size")).stdout)
    assert [r["owner"] for r in rows if r["name"] == name] == [USER1]
    mine = json.loads(_ok(host.as_user(USER2, "list-containers", "--mine", "--json")).stdout)
    assert mine == []
    for args in (
        ("dockeruser", "stop", name),
        ("remove-dev-container", name, "--yes"),
        ("dockeruser", "exec", name, "--", "true"),
        ("ssh", name, "--", "true"),
        ("dockeruser", "clone", name),
        ("dockeruser", "checkout", name, "--branch", "main"),
        ("dockeruser", "ide", name),
        ("common", "net", "connect", name, "22"),
    ):
        _refused(host.as_user(USER2, *args), 2, f"container {name} belongs to {USER1}")
    # nor with its own key straight at sshd: the dev account has only dbxu1's
    direct = _run(
        [
            "runuser",
            "-u",
            USER2,
            "--",
            "ssh",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            f"dev@{info['ip']}",
            "true",
        ]
    )
    assert direct.returncode == 255 and "Permission denied" in direct.stderr

    # the owner may; so may an admin
    exec_out = _ok(host.as_user(USER1, "dockeruser", "exec", name, "--", "hostname"))
    assert exec_out.stdout.strip() == name
    _ok(host.as_user(ADMIN, "dockeruser", "stop", name))
    _ok(host.as_user(ADMIN, "start-dev-container", name))
    # an admin's clone is the admin's: the admin's key lets people in, not the source owner's
    made_clone = json.loads(_ok(host.as_user(ADMIN, "dockeruser", "clone", name, "--json")).stdout)
    clone = made_clone["clones"][0]["name"]
    try:
        keys = _ok(
            host.as_user(ADMIN, "dockeruser", "exec", clone, "--", "cat", AUTHORIZED_KEYS)
        ).stdout
        assert _public_key(ADMIN) in keys and _public_key(USER1) not in keys, keys
        owned = json.loads(_ok(host.as_user(ADMIN, "list-containers", "--mine", "--json")).stdout)
        assert [r["name"] for r in owned] == [clone]
        # the admin's plain 'ssh CLONE': the entry and host key the client wrote from the
        # facts the clone's reply carried (no question to the service per clone)
        assert made_clone["clones"][0]["reach"]["host_keys"], made_clone
        plain = _run(
            ["runuser", "-u", ADMIN, "--", "ssh", "-o", "BatchMode=yes", clone, "hostname"]
        )
        assert plain.returncode == 0 and plain.stdout.strip() == clone, plain.stderr
        plain = _run(
            [
                "runuser",
                "-u",
                USER1,
                "--",
                "ssh",
                "-o",
                "BatchMode=yes",
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                f"dev@{made_clone['clones'][0]['ip']}",
                "true",
            ]
        )
        assert plain.returncode == 255 and "Permission denied" in plain.stderr, plain.stderr
    finally:
        _ok(host.as_user(ADMIN, "remove-dev-container", clone, "--yes", "--purge"))

    # dbxu1's quota is one container
    over = host.as_user(
        USER1, "make-dev-container", f"u1two{RUN_ID}", "--branch", "main", "--no-checkout"
    )
    _refused(over, 2, f"over quota: {USER1} may own 1 container(s); 1 already ({name})")

    _ok(host.as_user(USER1, "remove-dev-container", name, "--yes", "--purge"))
    assert name not in config.read_text()

    # the audit log has each action, with who and how it ended; no secret in it
    records = [(r["user"], r["command"], r["target"], r["result"]) for r in host.audit()]
    for expected in (
        (USER1, "make", name, "ok"),
        (USER2, "stop", name, "error"),
        (USER2, "remove", name, "error"),
        (ADMIN, "stop", name, "ok"),
        (ADMIN, "start", name, "ok"),
        (USER1, "make", f"u1two{RUN_ID}", "error"),
        (USER1, "remove", name, "ok"),
    ):
        assert expected in records, (expected, host.audit())
    text = (host.root / "logs" / "audit.log").read_text()
    assert "ssh-ed25519" not in text
    assert all(r["seconds"] >= 0 and "exit" in r for r in host.audit())


SETTINGS_ATTACK = """
import sys
from devbox.api import protocol
from devbox.api.client import Client
from devbox.errors import DevboxError
evil = {"PATH": "/tmp/evil-bin", "DEVBOX_ROOT": "/tmp/evil-root", "DOCKER_HOST": "tcp://x"}
api = Client(__import__("pathlib").Path(sys.argv[1]),
             settings=protocol.encode_settings(evil, {"root": "/tmp/evil-root"}))
try:
    api.get("/containers")
except DevboxError as err:
    print(int(err.exit_code), err.message)
else:
    print("accepted")
"""


def test_only_root_may_send_its_own_settings(host: Host) -> None:
    """Root's CLI sends its environment and flags along (PATH, DEVBOX_*, DOCKER_*): from
    anyone else they would run the service's tools from the caller's PATH or against another
    root, so the service refuses them outright."""
    before = len(host.audit())
    argv = ["runuser", "-u", USER1, "--", "env", "-i", "HOME=/home/" + USER1]
    python_argv, extra = _user_python()
    argv += [f"{k}={v}" for k, v in extra.items()]
    argv += [*python_argv, "-c", SETTINGS_ATTACK, str(host.shared / "devbox.sock")]
    result = _ok(_run(argv, cwd=REPO))
    assert result.stdout.strip() == "3 only root's devbox may send its own settings", result
    assert len(host.audit()) == before


def test_an_unknown_api_version_is_refused_clearly(host: Host) -> None:
    from devbox.api.client import _unix_opener
    from devbox.api.http_pool import Pool

    pool = Pool(_unix_opener(str(host.shared / "devbox.sock")), 10)
    reply = pool.request("GET", "/v2/containers", headers={"X-Devbox-Api": "2"})
    error = json.loads(reply.data)["error"]
    assert reply.status == 400
    assert "speaks API v1, the client asked for v2" in error["message"]
