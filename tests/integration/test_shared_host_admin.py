"""A shared host, the commands beyond the container lifecycle: an admin (group devbox-admin,
no sudo) runs the host's checks, the image list, the LAN view and the registry through the
service; a plain user is refused every admin-only command (exit 2, naming the admin group)
and runs run-on and prune-combos on their own containers only. Real unix accounts (other
names than test_shared_host's, so both modules run in one session), the real service."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import RUN_ID
from tests.integration.test_shared_host import (  # the same service and clients
    GROUPS,
    REPO,
    Host,
    _ok,
    _refused,
    _run,
    _user_python,
)
from tests.integration.test_shared_host import host as host  # the fixture, our accounts

pytestmark = pytest.mark.integration

USER, OTHER, ADMIN = "dbxu4", "dbxu5", "dbxa2"
MEMBERS = {USER: ["devbox"], OTHER: ["devbox"], ADMIN: ["devbox", "devbox-admin"]}
PASSWORD = f"pw-{RUN_ID}-never-logged"


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
        made = _run(["useradd", "-m", "-s", "/bin/sh", "-G", ",".join(groups), user])
        assert made.returncode == 0, made.stderr
        key = f"/home/{user}/.ssh/id_ed25519"
        keygen = ["runuser", "-u", user, "--", "ssh-keygen", "-q", "-t", "ed25519", "-N", ""]
        assert _run([*keygen, "-f", key]).returncode == 0
    try:
        yield
    finally:
        for user in MEMBERS:
            _run(["pkill", "-u", user])
            _run(["userdel", "-r", user])
        for group in made_groups:
            _run(["groupdel", group])


def _json(result: Any) -> Any:
    return json.loads(result.stdout)


def _with_stdin(host: Host, user: str, stdin: str, *args: str) -> Any:
    """``host.as_user`` with ``stdin`` on the command's standard input."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": f"/home/{user}",
        "NO_COLOR": "1",
        **{k: v for k, v in host.env.items() if k.startswith("DEVBOX_")},
    }
    python_argv, extra = _user_python()
    argv = ["runuser", "-u", user, "--", "env", "-i"]
    argv += [f"{k}={v}" for k, v in {**env, **extra}.items()]
    return _run([*argv, *python_argv, "-m", "devbox", *args], cwd=REPO, input=stdin)


def test_an_admin_runs_the_admin_commands_without_sudo(host: Host, dev_image: str) -> None:
    images = _json(_ok(host.as_user(ADMIN, "containerauthor", "list-images", "--json")))
    assert any(dev_image in r["tags"] for r in images), images
    # anyone in group devbox may list the images
    assert _json(_ok(host.as_user(USER, "containerauthor", "list-images", "--json"))) == images

    doctor = host.as_user(ADMIN, "common", "doctor", "--json")
    assert doctor.returncode in (0, 3), doctor.stderr
    checks = {c["name"]: c for c in _json(doctor)["checks"]}
    # the checks ran in the service (root): dbxa2 itself has no privileges
    assert checks["privileges"]["ok"] and checks["docker engine"]["ok"], checks
    table = host.as_user(ADMIN, "common", "doctor")
    assert table.returncode == doctor.returncode and "docker engine" in table.stdout

    lab = host.as_user(ADMIN, "common", "lab", "status", "--json")
    assert lab.returncode in (0, 3), lab.stderr  # the service read it: dbxa2 cannot
    assert {"subnet", "dnsmasq_alive", "leases", "hosts"} <= set(_json(lab))
    shown = _json(_ok(host.as_user(ADMIN, "common", "net", "show", "--json")))
    assert isinstance(shown, list)
    status = _json(_ok(host.as_user(ADMIN, "registryserver", "status", "--json")))
    assert {"address", "state", "users", "repositories"} <= set(status)
    assert "registry" in _ok(host.as_user(ADMIN, "registryserver", "status")).stdout


ADMIN_ONLY = [
    ("common", "doctor"),
    ("common", "net", "show"),
    ("common", "lab", "status"),
    ("common", "lab", "up"),
    ("common", "lab", "down"),
    ("common", "net", "attach", f"nosuch{RUN_ID}"),
    ("common", "net", "detach", f"nosuch{RUN_ID}"),
    ("containerauthor", "build-base", "debian-12"),
    ("containerauthor", "build-image", "dev"),
    ("containerauthor", "publish", "dev"),
    ("registryserver", "status"),
    ("registryserver", "up"),
    ("registryserver", "down"),
    ("registryserver", "gc"),
    ("registryserver", "user", "remove", "alice"),
]


def test_a_plain_user_is_refused_every_admin_command(host: Host) -> None:
    for args in ADMIN_ONLY:
        _refused(host.as_user(USER, *args), 2, "is for admins (root or group devbox-admin)")
    # the password a refused user add sent is in no log
    add = _with_stdin(
        host, USER, PASSWORD + "\n", "registryserver", "user", "add", "alice", "--password-stdin"
    )
    _refused(add, 2, "registryserver user add is for admins")
    records = [r for r in host.audit() if r["user"] == USER]
    assert {("build_image", "error", 2), ("registry_user_add", "error", 2)} <= {
        (r["command"], r["result"], r["exit"]) for r in records
    }, records
    added = [r for r in records if r["command"] == "registry_user_add"]
    assert added and all(r["args"]["password"] == "<hidden>" for r in added)
    for log in (host.root / "logs").glob("*.log"):
        assert PASSWORD not in log.read_text(errors="replace"), log


def test_run_on_and_prune_only_on_what_the_caller_owns(host: Host) -> None:
    name = f"u4box{RUN_ID}"
    _ok(host.as_user(USER, "make-dev-container", name, "--branch", "main", "--no-checkout"))
    try:
        ran = _json(_ok(host.as_user(USER, "dockeruser", "run-on", name, "--json", "--", "id -un")))
        assert [(r["name"], r["exit_code"], r["stdout"].strip()) for r in ran] == [(name, 0, "dev")]
        table = _ok(host.as_user(USER, "dockeruser", "run-on", name, "--", "hostname"))
        assert name in table.stdout and f"{name}" in table.stderr  # its row streamed too
        refused = host.as_user(OTHER, "dockeruser", "run-on", name, "--", "true")
        _refused(refused, 2, f"container {name} belongs to {USER}")
        failed = host.as_user(ADMIN, "dockeruser", "run-on", name, "--json", "--", "exit 3")
        assert failed.returncode == 4 and _json(failed)[0]["exit_code"] == 3, failed.stderr
        # prune-combos: a user sees and prunes their own combos only (none here)
        dry = host.as_user(
            OTHER, "dockeruser", "prune-combos", "--stopped-for", "1s", "--dry-run", "--json"
        )
        assert _json(_ok(dry))["candidates"] == []
        audit = [(r["user"], r["command"], r["result"]) for r in host.audit()]
        assert (USER, "run_on", "ok") in audit and (OTHER, "run_on", "error") in audit
    finally:
        _ok(host.as_user(USER, "remove-dev-container", name, "--yes", "--purge"))
