"""A Perforce login through ``devbox dockeruser checkout``: the password goes to the server and
nowhere else: no log file, no state file, no output, no container label, no process argv.

The Perforce server is the fake at the P4Python boundary (no p4d can run here), in a state
file the service's job reaches through ``p4.factory`` (tests.fakes.p4fake:from_state, named in
root's forwarded environment); everything else is real: the CLI in its own process, the
service and its job, the container with its label and /opt bind mount, the files on disk.
While the login runs, the fake scans every process on the machine (argv and environment) for
the password and records who held it.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devbox.config import load as load_config
from devbox.paths import Layout
from tests.cli import run_cli
from tests.conftest import RUN_ID
from tests.fakes.p4fake import processes_holding
from tests.fixtures import engine as fx
from tests.fixtures.lab import unmount_store
from tests.fixtures.readme import P4Fake, p4_fake

pytestmark = pytest.mark.integration

PORT = "perforce.example.com:1666"
PASSWORD = "Pw-" + os.urandom(6).hex() + "-secret"

MAP = """
[[branch]]
name = "main"
vcs = "p4"
depot = "//depot/main"
"""


def _all_files(*dirs: Path) -> list[Path]:
    return [p for d in dirs for p in d.rglob("*") if p.is_file()]


def _stop_service(root: Path) -> None:
    """The service root's CLI started for this test's root goes with the test (and the
    root's store mount)."""
    from devbox.errors import DevboxError
    from devbox.services import daemon_control
    from devbox.state import daemon_pid

    cfg = load_config(environ={"DEVBOX_ROOT": str(root)}, files=())
    try:
        daemon_control.stop(cfg)
    except DevboxError:
        running = daemon_pid.running_pid(cfg)
        if running is not None:
            os.kill(running, signal.SIGKILL)
    finally:
        unmount_store(root)


@pytest.fixture
def p4(tmp_path: Path, devbox_env: dict[str, str]) -> Iterator[tuple[P4Fake, dict[str, str]]]:
    """The fake server (its state file beside, not in, the devbox root and HOME the test
    searches for the password) and the CLI's environment for it."""
    fake = p4_fake(
        tmp_path / "p4state.json",
        {
            "port": PORT,
            "users": {"alice": PASSWORD},
            "submit": {"//depot/main/a.c": "int a;\n", "//depot/main/sub/b.c": "int b;\n"},
            "scan_processes": True,
        },
    )
    map_path = tmp_path / "branches.toml"
    map_path.write_text(MAP)
    env = {
        **devbox_env,
        **fake.env(),
        "DEVBOX_BRANCHES_MAP": str(map_path),
        "DEVBOX_P4_PORT": PORT,
        "DEVBOX_P4_USER": "alice",
        "P4TICKETS": str(Path(devbox_env["HOME"]) / ".p4tickets"),
    }
    try:
        yield fake, env
    finally:
        _stop_service(Path(devbox_env["DEVBOX_ROOT"]))


def test_password_only_reaches_the_server(
    p4: tuple[P4Fake, dict[str, str]], engine: Any, busybox_image: str
) -> None:
    fake, env = p4
    root, home = Path(env["DEVBOX_ROOT"]), Path(env["HOME"])
    name = fx.test_name("p4sec")
    opt = Layout(root).opt_dir(name)
    opt.mkdir(parents=True)
    os.chown(opt, 1000, 1000)  # a container's /opt belongs to its dev user (root's is refused)
    container = engine.containers.run(
        busybox_image,
        name=name,
        detach=True,
        labels={"devbox.branch": "main", fx.TEST_LABEL: RUN_ID},
        volumes={str(opt): {"bind": "/opt", "mode": "rw"}},
    )
    try:
        done = run_cli(
            env, "-v", "dockeruser", "checkout", name, "--password-stdin", "--json",
            input=PASSWORD + "\n",
        )  # fmt: skip
        out, err = done.stdout, done.stderr
        assert done.returncode == 0, err
        result = json.loads(out)
        server = fake.server()
        # the login really happened, with the password, and the checkout is visible in /opt
        assert server.logins == ["alice"]
        assert result["vcs"] == "p4" and result["files"] == 2
        code, content = container.exec_run(["cat", "/opt/src/sub/b.c"])
        assert code == 0 and content == b"int b;\n"
        # ... and the password is nowhere else: no process held it while the login ran
        # (every process on the machine: the CLI, the service, its job), nor does one now
        assert server.login_scans == 1, "the scan at login did not run"
        assert server.secret_sightings == []
        assert processes_holding([PASSWORD.encode()]) == []
        assert PASSWORD not in out and PASSWORD not in err
        files = _all_files(root, home)
        assert any(p.name == f"{name}.log" for p in files)
        assert any(p.name == ".p4tickets" for p in files)  # the ticket, in P4TICKETS
        for path in files:  # devbox's records and logs, the service's log, HOME
            assert PASSWORD.encode() not in path.read_bytes(), f"password found in {path}"
        log = (root / "logs" / f"{name}.log").read_text()
        assert "logged in as alice" in log
        container.reload()
        assert PASSWORD not in json.dumps(container.attrs)  # labels, env, command, mounts
        # a second run uses the ticket: no password is read
        again = run_cli(
            env, "dockeruser", "checkout", name, "--update", "--password-stdin", input=""
        )
        assert again.returncode == 0, again.stderr
        assert fake.server().logins == ["alice"]
    finally:
        container.remove(force=True)


def test_wrong_password_fails_cleanly_and_is_not_echoed(
    p4: tuple[P4Fake, dict[str, str]],
) -> None:
    fake, env = p4
    wrong = "Wrong-" + os.urandom(6).hex()
    name = fx.test_name("p4bad")
    opt = Layout(Path(env["DEVBOX_ROOT"])).opt_dir(name)
    opt.mkdir(parents=True)
    os.chown(opt, 1000, 1000)  # as a container's /opt is: its dev user's
    done = run_cli(
        env, "dockeruser", "checkout", name, "--branch", "main", "--password-stdin",
        input=wrong + "\n",
    )  # fmt: skip
    out, err = done.stdout, done.stderr
    assert done.returncode == 2, err
    assert "Perforce login failed: Password invalid." in err
    assert wrong not in out + err
    root, home = Path(env["DEVBOX_ROOT"]), Path(env["HOME"])
    for path in _all_files(root, home):
        assert wrong.encode() not in path.read_bytes(), f"password found in {path}"
    server = fake.server()
    assert server.login_scans == 1 and server.secret_sightings == []  # nor in any argv
    assert not server.clients  # nothing half-made


def _run_on_a_terminal(
    env: dict[str, str], args: list[str], answer: str, timeout: float = 300
) -> tuple[int, str]:
    """``devbox ARGS`` with a terminal as stdin/stdout/stderr (a pty): ``answer`` typed when
    the password prompt shows; (exit code, everything the terminal showed)."""
    import pty
    import select
    import subprocess
    import time

    from tests.cli import REPO, devbox_argv

    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        devbox_argv(args),
        cwd=REPO,
        env={**os.environ, **env, "NO_COLOR": "1"},
        stdin=follower,
        stdout=follower,
        stderr=follower,
        close_fds=True,
    )
    os.close(follower)
    shown, typed = b"", False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(leader, 4096)
                except OSError:  # the other side closed: the command ended
                    break
                if not chunk:
                    break
                shown += chunk
            if not typed and b"Perforce password: " in shown:
                os.write(leader, answer.encode() + b"\n")
                typed = True
            if proc.poll() is not None and not ready:
                break
        return proc.wait(timeout=30), shown.decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
        os.close(leader)


def test_the_password_is_asked_at_the_terminal_only_when_needed(
    p4: tuple[P4Fake, dict[str, str]], engine: Any, busybox_image: str
) -> None:
    """No --password-stdin: the job in the service asks the person at the CLI's terminal
    (no echo), only because no ticket is valid; with a ticket it asks nothing; with no
    terminal it says how to give the password (exit 3), nothing half-made."""
    fake, env = p4
    root = Path(env["DEVBOX_ROOT"])
    name = fx.test_name("p4tty")
    opt = Layout(root).opt_dir(name)
    opt.mkdir(parents=True)
    os.chown(opt, 1000, 1000)
    container = engine.containers.run(
        busybox_image,
        name=name,
        detach=True,
        labels={"devbox.branch": "main", fx.TEST_LABEL: RUN_ID},
        volumes={str(opt): {"bind": "/opt", "mode": "rw"}},
    )
    try:
        no_tty = run_cli(env, "dockeruser", "checkout", name, input="")
        assert no_tty.returncode == 3, no_tty.stderr
        assert "a Perforce login is needed and no password was given" in no_tty.stderr
        assert fake.server().logins == [] and not fake.server().clients

        code, shown = _run_on_a_terminal(env, ["dockeruser", "checkout", name], PASSWORD)
        assert code == 0, shown
        assert "Perforce password: " in shown
        assert PASSWORD not in shown  # typed without echo
        assert fake.server().logins == ["alice"]
        code_, content = container.exec_run(["cat", "/opt/src/sub/b.c"])
        assert code_ == 0 and content == b"int b;\n"
        for path in _all_files(root, Path(env["HOME"])):
            assert PASSWORD.encode() not in path.read_bytes(), f"password found in {path}"

        # the ticket is valid now: nothing is asked
        code, shown = _run_on_a_terminal(
            env, ["dockeruser", "checkout", name, "--update"], "not-asked"
        )
        assert code == 0, shown
        assert "Perforce password" not in shown
        assert fake.server().logins == ["alice"]
    finally:
        container.remove(force=True)
