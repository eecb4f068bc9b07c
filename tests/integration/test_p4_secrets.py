"""A Perforce login through ``devbox dockeruser checkout``: the password goes to the server and
nowhere else: no log file, no state file, no output, no container label, no process argv.

The Perforce server is the fake at the P4Python boundary (no p4d can run here); everything
else is real: the CLI, the container with its label and /opt bind mount, the files on disk.
"""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from devbox.__main__ import main
from devbox.adapters import p4 as p4adapter
from devbox.paths import Layout
from tests.conftest import RUN_ID
from tests.fakes.p4fake import FakeServer, factory_for
from tests.fixtures import engine as fx

pytestmark = pytest.mark.integration

PORT = "perforce.example.com:1666"
PASSWORD = "Pw-" + os.urandom(6).hex() + "-secret"

MAP = """
[[branch]]
name = "main"
vcs = "p4"
depot = "//depot/main"
"""


def _process_tree(root_pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [root_pid]
    while todo and len(tree) < 10000:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def _cmdlines(pids: list[int]) -> list[bytes]:
    out = []
    for pid in pids:
        try:
            out.append(Path(f"/proc/{pid}/cmdline").read_bytes())
        except OSError:
            continue
    return out


def _all_files(*dirs: Path) -> list[Path]:
    return [p for d in dirs for p in d.rglob("*") if p.is_file()]


@pytest.fixture
def p4_server(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, devbox_env: dict[str, str]
) -> FakeServer:
    server = FakeServer(PORT)
    server.add_user("alice", PASSWORD)
    server.submit({"//depot/main/a.c": b"int a;\n", "//depot/main/sub/b.c": b"int b;\n"})
    monkeypatch.setattr(p4adapter, "default_factory", factory_for(server))
    map_path = tmp_path / "branches.toml"
    map_path.write_text(MAP)
    monkeypatch.setenv("DEVBOX_BRANCHES_MAP", str(map_path))
    monkeypatch.setenv("DEVBOX_P4_PORT", PORT)
    monkeypatch.setenv("DEVBOX_P4_USER", "alice")
    monkeypatch.setenv("P4TICKETS", str(Path(devbox_env["HOME"]) / ".p4tickets"))
    return server


def test_password_only_reaches_the_server(
    p4_server: FakeServer,
    engine: Any,
    busybox_image: str,
    devbox_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    root, home = Path(devbox_env["DEVBOX_ROOT"]), Path(devbox_env["HOME"])
    name = fx.test_name("p4sec")
    opt = Layout(root).opt_dir(name)
    opt.mkdir(parents=True)
    os.chown(opt, 1000, 1000)  # a container's /opt belongs to its dev user (root's is refused)
    argvs_during_login: list[bytes] = []
    p4_server.on_login = lambda: argvs_during_login.extend(_cmdlines(_process_tree(os.getpid())))
    container = engine.containers.run(
        busybox_image,
        name=name,
        detach=True,
        labels={"devbox.branch": "main", fx.TEST_LABEL: RUN_ID},
        volumes={str(opt): {"bind": "/opt", "mode": "rw"}},
    )
    try:
        monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
        assert main(["-v", "dockeruser", "checkout", name, "--password-stdin", "--json"]) == 0
        out, err = capfd.readouterr()
        result = json.loads(out)
        # the login really happened, with the password, and the checkout is visible in /opt
        assert p4_server.logins == ["alice"]
        assert result["vcs"] == "p4" and result["files"] == 2
        code, content = container.exec_run(["cat", "/opt/src/sub/b.c"])
        assert code == 0 and content == b"int b;\n"
        # ... and the password is nowhere else
        secret = PASSWORD.encode()
        assert argvs_during_login, "the login hook did not run"
        assert all(secret not in argv for argv in argvs_during_login)
        assert all(secret not in argv for argv in _cmdlines(_process_tree(os.getpid())))
        assert PASSWORD not in out and PASSWORD not in err
        files = _all_files(root, home)
        assert any(p.name == f"{name}.log" for p in files)
        assert any(p.name == ".p4tickets" for p in files)  # the ticket, in P4TICKETS
        for path in files:
            assert secret not in path.read_bytes(), f"password found in {path}"
        log = (root / "logs" / f"{name}.log").read_text()
        assert "logged in as alice" in log
        container.reload()
        assert PASSWORD not in json.dumps(container.attrs)  # labels, env, command, mounts
        # a second run uses the ticket: no password is read
        monkeypatch.setattr(sys, "stdin", io.StringIO(""))
        assert main(["dockeruser", "checkout", name, "--update", "--password-stdin"]) == 0
        assert p4_server.logins == ["alice"]
    finally:
        container.remove(force=True)


def test_wrong_password_fails_cleanly_and_is_not_echoed(
    p4_server: FakeServer,
    devbox_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    wrong = "Wrong-" + os.urandom(6).hex()
    monkeypatch.setattr(sys, "stdin", io.StringIO(wrong + "\n"))
    name = fx.test_name("p4bad")
    opt = Layout(Path(devbox_env["DEVBOX_ROOT"])).opt_dir(name)
    opt.mkdir(parents=True)
    os.chown(opt, 1000, 1000)  # as a container's /opt is: its dev user's
    rc = main(["dockeruser", "checkout", name, "--branch", "main", "--password-stdin"])
    out, err = capfd.readouterr()
    assert rc == 2
    assert "Perforce login failed: Password invalid." in err
    assert wrong not in out + err
    root, home = Path(devbox_env["DEVBOX_ROOT"]), Path(devbox_env["HOME"])
    for path in _all_files(root, home):
        assert wrong.encode() not in path.read_bytes(), f"password found in {path}"
    assert not p4_server.clients  # nothing half-made
