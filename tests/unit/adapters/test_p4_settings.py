"""The ``p4.factory`` setting (``factory_from``): which P4 object devbox connects with, and the
tests' own factory, ``tests.fakes.p4fake:from_state``, which serves a fake Perforce server kept
in a state file to another process (the service's job children), scanning every process for
the password while a login runs."""

from __future__ import annotations

import multiprocessing
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from devbox.adapters import p4 as p4adapter
from devbox.adapters.p4_settings import P4Settings, factory_from
from devbox.config import load as load_config
from devbox.errors import NotReadyError, UserError
from devbox.oplog import OpLog
from devbox.paths import Layout
from devbox.services import checkout as service
from tests.fakes import p4fake
from tests.fakes.p4fake import FakeP4, FakeServer, read_state, state_of, write_state
from tests.waits import wait_for

PORT = "fake.example.com:1666"
FACTORY = "tests.fakes.p4fake:from_state"
MAP = '[[branch]]\nname = "main"\nvcs = "p4"\ndepot = "//depot/main"\n'


def _seeded(password: str) -> FakeServer:
    server = FakeServer(PORT)
    server.add_user("alice", password)
    server.submit({"//depot/main/a.c": b"int a;\n", "//depot/main/sub/b.c": b"int b;\n"})
    return server


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    password = "Pw-" + secrets.token_hex(8)
    path = write_state(_seeded(password), tmp_path / "p4state.json")
    monkeypatch.setenv(p4fake.STATE_ENV, str(path))
    return path, password


# -- the setting -------------------------------------------------------------------------------


def test_empty_setting_is_p4python() -> None:
    assert factory_from("") is None
    assert P4Settings().factory == ""


@pytest.mark.parametrize(
    ("spec", "error", "text"),
    [
        ("tests.fakes.p4fake", UserError, "must be 'module:callable'"),
        ("tests.fakes.p4fake:from state", UserError, "must be 'module:callable'"),
        ("../evil:x", UserError, "must be 'module:callable'"),
        ("tests.fakes.no_such_module:make", NotReadyError, "cannot import"),
        ("tests.fakes.p4fake:no_such_callable", UserError, "has no no_such_callable"),
        ("tests.fakes.p4fake:STATE_ENV", UserError, "is not callable"),
    ],
)
def test_bad_settings_are_one_line_errors(spec: str, error: type[Exception], text: str) -> None:
    with pytest.raises(error, match=text) as caught:
        factory_from(spec)
    assert "\n" not in str(caught.value)


def test_the_setting_reaches_the_session(
    tmp_path: Path, state: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """DEVBOX_P4_FACTORY -> p4.factory -> P4Settings.factory -> the session's P4 object;
    the factory runs with P4CONFIG gone from the environment, as P4.P4 does."""
    cfg = load_config(
        environ={"DEVBOX_P4_FACTORY": FACTORY, "DEVBOX_P4_PORT": PORT, "DEVBOX_P4_USER": "alice"},
        files=(),
    )
    settings = P4Settings.from_config(cfg)
    assert settings.factory == FACTORY
    monkeypatch.setenv("P4CONFIG", ".p4config")
    session = p4adapter.P4Session(
        P4Settings(port=PORT, user="alice", ticket_file=str(tmp_path / "t"), factory=FACTORY),
        password=lambda: state[1],
    )
    with session:
        assert isinstance(session.p4, FakeP4)
        assert "P4CONFIG" not in os.environ
    assert read_state(state[0]).logins == ["alice"]


# -- the state file ----------------------------------------------------------------------------


def test_state_round_trips() -> None:
    server = _seeded("pw")
    server.shelve({"//depot/main/a.c": b"\x00\xffbinary"})
    server.labels["rel"] = 1
    again = FakeServer()
    p4fake.load_state(again, state_of(server))
    assert state_of(again) == state_of(server)
    assert again.changes[2].shelved == {"//depot/main/a.c": b"\x00\xffbinary"}


def test_commands_of_two_connections_both_land(tmp_path: Path, state: tuple[Path, str]) -> None:
    """Each command reloads the file first: a connection made earlier does not undo what
    another one saved meanwhile."""
    path, password = state
    first, second = p4fake.from_state(), p4fake.from_state()
    for n, p4 in enumerate((first, second)):
        p4.port, p4.user, p4.ticket_file = PORT, "alice", str(tmp_path / f"t{n}")
        p4.connect()
        p4.password = password
        p4.run_login()
    for name, p4 in (("ws1", first), ("ws2", second)):
        spec = p4.fetch_client(name)
        spec["Root"] = str(tmp_path / name)
        p4.save_client(spec)
    seen = read_state(path)
    assert sorted(seen.clients) == ["ws1", "ws2"]
    assert seen.logins == ["alice", "alice"]


def _log_in(path: str, password: str, ticket_file: str, times: int) -> None:
    os.environ[p4fake.STATE_ENV] = path
    for _ in range(times):
        p4 = p4fake.from_state()
        p4.port, p4.user, p4.ticket_file, p4.password = PORT, "alice", ticket_file, password
        p4.connect()
        p4.run_login()
        p4.disconnect()


def test_jobs_at_once_lose_nothing(tmp_path: Path, state: tuple[Path, str]) -> None:
    """Several processes on one state file (the flock): every login is recorded."""
    path, password = state
    ctx = multiprocessing.get_context("fork")
    procs = [
        ctx.Process(target=_log_in, args=(str(path), password, str(tmp_path / f"t{n}"), 5))
        for n in range(4)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
    assert [proc.exitcode for proc in procs] == [0, 0, 0, 0]
    assert read_state(path).logins == ["alice"] * 20


@pytest.mark.skipif(os.geteuid() != 0, reason="the owner switch needs root")
def test_checkout_as_the_owner_through_the_setting(tmp_path: Path, state: tuple[Path, str]) -> None:
    """The sync runs with the owner's filesystem identity: the state file (root's, in a
    folder only root may enter) is still read and written (opened when the server was made)."""
    path, password = state
    os.chmod(tmp_path, 0o700)
    (tmp_path / "branches.toml").write_text(MAP)
    root = tmp_path / "root"
    cfg = load_config(
        environ={
            "DEVBOX_ROOT": str(root),
            "DEVBOX_P4_PORT": PORT,
            "DEVBOX_P4_USER": "alice",
            "DEVBOX_P4_FACTORY": FACTORY,
            "DEVBOX_BRANCHES_MAP": str(tmp_path / "branches.toml"),
            "P4TICKETS": str(tmp_path / "tickets"),
        },
        files=(),
    )
    opt = Layout(root).opt_dir("c1")
    result = service.checkout(
        cfg, "c1", "main", opt, log=OpLog(root / "logs" / "c1.log"),
        password=lambda: password, owner=(4242, 4242),
    )  # fmt: skip
    assert result.files == 2
    assert (opt / "src" / "sub" / "b.c").stat().st_uid == 4242
    seen = read_state(path)
    assert seen.logins == ["alice"]
    assert len(seen.have[result.workspace]) == 2  # recorded by the sync, run as 4242
    assert ("sync", (f"//{result.workspace}/...@1",)) in seen.calls


# -- the scan for the password -----------------------------------------------------------------


def _login_with_scan(tmp_path: Path, path: Path, password: str) -> FakeServer:
    server = read_state(path)
    server.scan_processes = True
    write_state(server, path)
    p4 = p4fake.from_state()
    p4.port, p4.user, p4.ticket_file = PORT, "alice", str(tmp_path / "tickets")
    p4.connect()
    p4.password = password
    p4.run_login()
    return read_state(path)


def test_a_login_with_no_leak_finds_nothing(tmp_path: Path, state: tuple[Path, str]) -> None:
    seen = _login_with_scan(tmp_path, *state)
    assert seen.login_scans == 1 and seen.logins == ["alice"]
    assert seen.secret_sightings == []


@pytest.mark.parametrize("where", ["cmdline", "environ"])
def test_the_scan_catches_a_process_holding_the_password(
    tmp_path: Path, state: tuple[Path, str], where: str
) -> None:
    """A process whose argv (or environment) holds the password exists while the login
    runs: the scan names it."""
    path, password = state
    argv = [sys.executable, "-c", "import time; time.sleep(60)"]
    extra = {"LEAK": password} if where == "environ" else {}
    proc = subprocess.Popen(
        [*argv, password] if where == "cmdline" else argv, env={**os.environ, **extra}
    )
    try:
        held = Path(f"/proc/{proc.pid}/{where}")
        wait_for(lambda: password.encode() in held.read_bytes(), 10, f"the password in {held}")
        seen = _login_with_scan(tmp_path, path, password)
    finally:
        proc.kill()
        proc.wait(10)
    assert seen.login_scans == 1
    assert any(
        s.startswith(f"pid {proc.pid} ") and s.endswith(where) for s in seen.secret_sightings
    )
    assert all(password not in s for s in seen.secret_sightings)  # named, never copied


def test_processes_holding_needs_a_needle() -> None:
    assert p4fake.processes_holding([b""]) == []
