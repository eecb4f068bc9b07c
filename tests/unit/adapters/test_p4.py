"""Perforce checkout through the adapter, against the fake at the P4Python boundary.

Also: connection errors from the real P4Python library (no server needed for those), and the
fake's API shape checked against the real ``P4`` module.
"""

from __future__ import annotations

import ast
import json
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import P4
import pytest

from devbox.adapters import p4 as p4adapter
from devbox.config import Config
from devbox.config import load as load_config
from devbox.errors import NotReadyError, UserError
from devbox.oplog import OpLog
from devbox.paths import Layout
from devbox.services import checkout as service
from tests.fakes.p4fake import FakeP4, FakeServer, factory_for

PORT = "fake.example.com:1666"
OWNER = (4242, 4242)  # the container's user: P4 writes its files with this identity
PASSWORD = "s3cr3t-Pa55-word"

MAP = """
[[branch]]
name = "main"
vcs = "p4"
depot = "//depot/main"
view = [
  "//depot/main/... //{{ client }}/{{ path }}/...",
  "-//depot/main/generated/... //{{ client }}/{{ path }}/generated/...",
]
image = "img:main"

[[branch]]
name = "rel/*"
vcs = "p4"
depot = "//depot/{{ branch }}"

[[branch]]
name = "nowhere"
vcs = "p4"
depot = "//depot/nothing-here"

[[branch]]
name = "nodepot"
vcs = "p4"
depot = "//nodepot/main"
view = ["//nodepot/main/... //{{ client }}/src/..."]
"""


@pytest.fixture
def server() -> FakeServer:
    srv = FakeServer(PORT)
    srv.add_user("alice", PASSWORD)
    srv.submit(
        {
            "//depot/main/a.c": b"int a;\n",
            "//depot/main/lib/b.h": b"#define B\n",
            "//depot/main/generated/big.bin": b"x" * 1000,
        }
    )
    srv.submit({"//depot/rel/1.0/r.txt": b"release\n"})
    return srv


@pytest.fixture
def env(tmp_path: Path) -> dict[str, Any]:
    map_path = tmp_path / "branches.toml"
    map_path.write_text(MAP)
    root = tmp_path / "root"
    return {
        "cfg": load_config(
            environ={
                "DEVBOX_ROOT": str(root),
                "DEVBOX_P4_PORT": PORT,
                "DEVBOX_P4_USER": "alice",
                "DEVBOX_BRANCHES_MAP": str(map_path),
                "P4TICKETS": str(tmp_path / "tickets"),
            },
            files=(),
        ),
        "root": root,
        "tickets": tmp_path / "tickets",
        "log": OpLog(root / "logs" / "c1.log"),
    }


def _co(
    env: dict[str, Any],
    server: FakeServer,
    branch: str = "main",
    *,
    update: bool = False,
    password: Callable[[], str] | None = lambda: PASSWORD,
    progress: Any = None,
    name: str = "c1",
) -> service.CheckoutResult:
    cfg: Config = env["cfg"]
    return service.checkout(
        cfg,
        name,
        branch,
        Layout(env["root"]).opt_dir(name),
        update=update,
        log=env["log"],
        progress=progress,
        password=password,
        p4_factory=factory_for(server),
        owner=OWNER,
    )


def test_checkout_creates_workspace_syncs_and_records(
    env: dict[str, Any], server: FakeServer
) -> None:
    events: list[tuple[float, float | None, str]] = []
    result = _co(env, server, progress=lambda d, t, s: events.append((d, t, s)))
    opt = Layout(env["root"]).opt_dir("c1")
    assert (opt / "src" / "a.c").read_bytes() == b"int a;\n"
    assert (opt / "src" / "lib" / "b.h").exists()
    assert not (opt / "src" / "generated").exists()  # excluded by the view
    name = p4adapter.workspace_name("devbox", "c1")
    assert name == f"devbox-{socket.gethostname().split('.')[0]}-c1"
    spec = server.clients[name]
    assert spec["Root"] == str(opt)
    assert spec["AltRoots"] == ["/opt"]
    assert spec["Options"] == env["cfg"]["p4.options"]
    assert spec["View"][0] == f"//depot/main/... //{name}/src/..."
    assert result.revision == "1" and result.vcs == "p4" and result.workspace == name
    assert (result.files, result.transferred) == (2, 2)
    assert result.container_path == "/opt/src"
    # progress came from the output handler: files and bytes, with the announced total
    assert events[-1][0] == 2 and events[-1][1] == 2
    assert "2 files" in events[-1][2]
    record = json.loads((Layout(env["root"]).container_dir("c1") / "checkout.json").read_text())
    assert record["revision"] == "1" and record["branch"] == "main"
    assert record["path"] == str(opt / "src")
    log = (env["root"] / "logs" / "c1.log").read_text()
    assert "is at p4 1" in log
    # logged in with the password; the ticket is in the user's P4TICKETS file
    assert server.logins == ["alice"]
    assert f"{PORT}=alice:" in env["tickets"].read_text()
    assert PASSWORD not in env["tickets"].read_text()


def test_second_run_uses_ticket_and_update_syncs_new_change(
    env: dict[str, Any], server: FakeServer
) -> None:
    _co(env, server)
    same = _co(env, server, password=None)  # no --update: the record, no network
    assert same.revision == "1"
    change = server.submit(
        {
            "//depot/main/a.c": b"int a = 2;\n",
            "//depot/main/lib/b.h": None,
            "//depot/main/new.txt": b"new\n",
        }
    )
    updated = _co(env, server, update=True, password=None)  # the ticket is reused
    opt = Layout(env["root"]).opt_dir("c1") / "src"
    assert updated.revision == str(change)
    assert (opt / "a.c").read_bytes() == b"int a = 2;\n"
    assert not (opt / "lib").exists()  # deleted, and rmdir removed the empty directory
    assert (opt / "new.txt").exists()
    assert updated.transferred == 3 and updated.files == 2
    assert server.logins == ["alice"]
    assert updated.history[-1]["revision"] == "1"
    again = _co(env, server, update=True, password=None)
    assert again.transferred == 0 and again.revision == str(change)


def test_glob_branch_renders_depot(env: dict[str, Any], server: FakeServer) -> None:
    result = _co(env, server, "rel/1.0", name="c2")
    assert result.source == "//depot/rel/1.0"
    assert (Layout(env["root"]).opt_dir("c2") / "src" / "r.txt").read_text() == "release\n"


def test_other_branch_already_checked_out_is_refused(
    env: dict[str, Any], server: FakeServer
) -> None:
    _co(env, server)
    with pytest.raises(UserError, match="has branch 'main' checked out"):
        _co(env, server, "rel/1.0")


def test_not_logged_in_without_password_source(env: dict[str, Any], server: FakeServer) -> None:
    with pytest.raises(UserError, match="not logged in to Perforce") as err:
        _co(env, server, password=None)
    assert "--password-stdin" in (err.value.hint or "")


def test_bad_password(env: dict[str, Any], server: FakeServer) -> None:
    with pytest.raises(UserError, match="Perforce login failed: Password invalid"):
        _co(env, server, password=lambda: "wrong-password")
    assert not server.clients


def test_bad_port_fake(env: dict[str, Any], server: FakeServer) -> None:
    cfg = env["cfg"].with_overrides({"p4.port": "elsewhere:1666"})
    with pytest.raises(NotReadyError, match="cannot reach the Perforce server elsewhere:1666"):
        service.checkout(
            cfg,
            "c1",
            "main",
            Layout(env["root"]).opt_dir("c1"),
            log=env["log"],
            p4_factory=factory_for(server),
            owner=OWNER,
        )


def test_bad_port_real_p4python() -> None:
    """The real library against a closed local port: the same one-line error."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again when the block ends
    session = p4adapter.P4Session(p4adapter.P4Settings(port=f"127.0.0.1:{port}", user="x"))
    with pytest.raises(NotReadyError) as err:
        session.connect()
    assert "cannot reach the Perforce server" in err.value.message
    assert "\n" not in err.value.message


def test_unknown_depot_path(env: dict[str, Any], server: FakeServer) -> None:
    with pytest.raises(UserError, match="unknown depot path"):
        _co(env, server, "nowhere")
    with pytest.raises(UserError, match="unknown depot path"):
        _co(env, server, "nodepot")
    assert not server.clients
    assert not (Layout(env["root"]).container_dir("c1") / "checkout.json").exists()


def test_failed_sync_removes_new_workspace(env: dict[str, Any], server: FakeServer) -> None:
    opt = Layout(env["root"]).opt_dir("c1") / "src"
    opt.mkdir(parents=True)
    (opt / "a.c").write_text("mine\n")  # a writable file in the way
    cfg = env["cfg"].with_overrides(
        {"p4.options": "noallwrite noclobber nocompress unlocked nomodtime normdir"}
    )
    with pytest.raises(Exception, match="clobber"):
        service.checkout(
            cfg,
            "c1",
            "main",
            Layout(env["root"]).opt_dir("c1"),
            log=env["log"],
            password=lambda: PASSWORD,
            p4_factory=factory_for(server),
            owner=OWNER,
        )
    assert not server.clients  # rolled back
    assert (opt / "a.c").read_text() == "mine\n"  # user data untouched


def test_remove_workspace_refuses_opened_files_unless_force(
    env: dict[str, Any], server: FakeServer
) -> None:
    result = _co(env, server)
    p4 = FakeP4(server)
    p4.port, p4.user, p4.client, p4.ticket_file = (
        PORT,
        "alice",
        result.workspace,
        str(env["tickets"]),
    )
    p4.connect()
    p4.run_edit(f"//{result.workspace}/src/a.c")
    (Path(result.path) / "a.c").write_text("edited\n")
    kwargs = {"log": env["log"], "p4_factory": factory_for(server)}
    with pytest.raises(UserError, match="1 opened file"):
        service.remove_workspace(env["cfg"], "c1", **kwargs)
    assert result.workspace in server.clients
    assert service.remove_workspace(env["cfg"], "c1", force=True, **kwargs) is True
    assert result.workspace not in server.clients
    assert (Path(result.path) / "a.c").read_text() == "edited\n"  # files in /opt kept
    assert service.remove_workspace(env["cfg"], "c1", **kwargs) is False  # already gone
    assert service.remove_workspace(env["cfg"], "nothing", **kwargs) is False


def test_apply_shelved_changes_reports_conflicts(env: dict[str, Any], server: FakeServer) -> None:
    result = _co(env, server)
    clean = server.shelve(
        {"//depot/main/a.c": b"int a = 3;\n", "//depot/main/added.txt": b"added\n"}
    )
    clash = server.shelve({"//depot/main/a.c": b"int a = 4;\n"})
    kwargs = {"log": env["log"], "p4_factory": factory_for(server)}
    first = service.apply_changes(env["cfg"], "c1", [clean], **kwargs)
    assert first[0].files == 2 and first[0].conflicts == ()
    assert (Path(result.path) / "a.c").read_bytes() == b"int a = 3;\n"
    assert (Path(result.path) / "added.txt").exists()
    second = service.apply_changes(env["cfg"], "c1", [clash], **kwargs)
    assert second[0].conflicts == (str(Path(result.path) / "a.c"),)
    with pytest.raises(UserError, match="already submitted"):
        service.apply_changes(env["cfg"], "c1", [1], **kwargs)


def test_p4_errors_are_one_line(env: dict[str, Any], server: FakeServer) -> None:
    p4 = FakeP4(server)
    p4.port = PORT
    p4.user = "alice"
    p4.connect()
    with pytest.raises(P4.P4Exception) as err:
        p4.run_changes("-m1")
    assert "P4PASSWD" in str(err.value)
    classified = p4adapter._classify(str(err.value), "changes", PORT)
    assert isinstance(classified, UserError) and "\n" not in classified.message


# -- the fake keeps P4Python's shape --------------------------------------------------------------
#
# P4Python's P4.__getattr__ makes any run_*/fetch_*/save_*/delete_* name callable, so "the real
# P4 has it" proves nothing. The names below are P4Python's DOCUMENTED API, taken from the
# P4 API for Python documentation:
#   https://help.perforce.com/helix-core/apis/p4python/current/Content/P4Python/python.classes.html
#   https://help.perforce.com/helix-core/apis/p4python/current/Content/P4Python/python.p4.html
# and the commands of the P4 Command Reference ("Commands by Functional Area"). Every name the
# fake has and every name devbox's adapter uses must be on these lists.

P4_DOC_ATTRIBUTES = frozenset(
    {
        "api_level",
        "charset",
        "client",
        "cwd",
        "disable_tmp_cleanup",
        "encoding",
        "errors",
        "exception_level",
        "handler",
        "host",
        "ignore_file",
        "input",
        "maxlocktime",
        "maxresults",
        "maxscanrows",
        "messages",
        "p4config_file",
        "password",
        "port",
        "prog",
        "progress",
        "server_case_insensitive",
        "server_level",
        "server_unicode",
        "streams",
        "tagged",
        "ticket_file",
        "track",
        "track_messages",
        "user",
        "version",
        "warnings",
    }
)
P4_DOC_METHODS = frozenset(
    {
        "at_exception_level",
        "connect",
        "connected",
        "disconnect",
        "env",
        "identify",
        "is_ignored",
        "run",
        "run_filelog",
        "run_login",
        "run_password",
        "run_resolve",
        "run_submit",
        "run_tickets",
        "set_env",
        "temp_client",
        "using_handler",
        "while_tagged",
        "format_spec",
        "parse_spec",
    }
)
# P4.RAISE_NONE / RAISE_ERRORS / RAISE_ALL: the values of p4.exception_level (0, 1, 2)
P4_DOC_CONSTANTS = frozenset({"RAISE_NONE", "RAISE_ERROR", "RAISE_ERRORS", "RAISE_ALL"})
# p4.run_<cmd>: commands of the P4 Command Reference (the ones a workspace flow can meet)
P4_DOC_COMMANDS = frozenset(
    {
        "add",
        "change",
        "changes",
        "client",
        "clients",
        "delete",
        "describe",
        "edit",
        "files",
        "fstat",
        "have",
        "info",
        "login",
        "logout",
        "opened",
        "reconcile",
        "resolve",
        "revert",
        "shelve",
        "submit",
        "sync",
        "tickets",
        "unshelve",
        "where",
        "workspace",
        "workspaces",
    }
)
# p4.fetch_/save_/delete_/parse_/format_/iterate_<spectype>
P4_DOC_SPEC_VERBS = ("fetch_", "save_", "delete_", "parse_", "format_", "iterate_")
P4_DOC_SPECTYPES = frozenset(
    {
        "branch",
        "change",
        "client",
        "depot",
        "group",
        "job",
        "label",
        "protect",
        "stream",
        "triggers",
        "typemap",
        "user",
        "workspace",
    }
)
# classes of the P4 module (and OutputHandler's documented callbacks and return values)
P4_DOC_CLASSES = frozenset(
    {
        "P4",
        "P4Exception",
        "DepotFile",
        "Revision",
        "Integration",
        "Map",
        "MergeData",
        "Message",
        "OutputHandler",
        "Progress",
        "Resolver",
        "Spec",
    }
)
P4_DOC_OUTPUT_HANDLER = frozenset(
    {
        "outputStat",
        "outputInfo",
        "outputText",
        "outputBinary",
        "outputMessage",
        "REPORT",
        "HANDLED",
        "CANCEL",
    }
)


def p4_documented(name: str) -> bool:
    """Whether ``name`` is on a P4 object per P4Python's documentation."""
    if name in P4_DOC_ATTRIBUTES | P4_DOC_METHODS | P4_DOC_CONSTANTS:
        return True
    if name.startswith("run_"):
        return name[len("run_") :] in P4_DOC_COMMANDS
    for verb in P4_DOC_SPEC_VERBS:
        if name.startswith(verb):
            return name[len(verb) :] in P4_DOC_SPECTYPES
    return False


def _is_name(node: ast.expr, *names: str) -> bool:
    """``node`` is a bare name, one of ``names``."""
    return isinstance(node, ast.Name) and node.id in names


def _is_self_attr(node: ast.expr, attr: str) -> bool:
    """``node`` is ``self.<attr>``."""
    return isinstance(node, ast.Attribute) and node.attr == attr and _is_name(node.value, "self")


def _adapter_p4_names() -> tuple[set[str], set[str]]:
    """(names used on P4 objects, names used on the P4 module) in devbox/adapters/p4.py."""
    tree = ast.parse(Path(p4adapter.__file__).read_text())
    on_object: set[str] = set()
    on_module: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and any(
            isinstance(b, ast.Name) and b.id == "base" for b in node.bases
        ):
            # the callbacks devbox's OutputHandler subclass overrides
            on_module |= {
                f"OutputHandler.{f.name}"
                for f in node.body
                if isinstance(f, ast.FunctionDef) and not f.name.startswith("__")
            }
        if not isinstance(node, ast.Attribute):
            continue
        value = node.value
        if _is_name(value, "p4") or _is_self_attr(value, "p4"):
            on_object.add(node.attr)
        elif _is_name(value, "P4", "p4mod") or _is_self_attr(value, "_mod"):
            on_module.add(node.attr)
        elif (
            isinstance(value, ast.Name)
            and value.id == "base"  # the OutputHandler subclass
            and not node.attr.startswith("__")
        ):
            on_module.add(f"OutputHandler.{node.attr}")
    return on_object, on_module


def _fake_names() -> set[str]:
    """Every public name a FakeP4 has: class attributes, methods, instance attributes, and the
    run_<cmd> its server really implements (``_cmd_<cmd>``)."""
    fake = FakeP4(FakeServer())
    names = {n for n in dir(FakeP4) if not n.startswith("_")}
    names |= {n for n in vars(fake) if not n.startswith("_")}
    names |= {"run_" + n[len("_cmd_") :] for n in dir(FakeP4) if n.startswith("_cmd_")}
    return names


def test_adapter_uses_only_documented_p4python() -> None:
    on_object, on_module = _adapter_p4_names()
    assert {"run_sync", "fetch_client", "at_exception_level"} <= on_object  # the scan works
    assert [n for n in sorted(on_object) if not p4_documented(n)] == []
    handler = {n.split(".", 1)[1] for n in on_module if n.startswith("OutputHandler.")}
    assert handler and handler <= P4_DOC_OUTPUT_HANDLER, handler
    assert {n for n in on_module if "." not in n} <= P4_DOC_CLASSES, on_module


def test_fake_has_only_documented_p4python_names() -> None:
    assert [n for n in sorted(_fake_names()) if not p4_documented(n)] == []


def test_fake_really_implements_what_the_adapter_uses() -> None:
    """Each name the adapter uses is on the fake by definition (a method, an attribute, or a
    command the fake server implements), not only through a catch-all __getattr__."""
    on_object, _ = _adapter_p4_names()
    fake = _fake_names()
    for used in sorted(on_object):
        name = used
        for verb in P4_DOC_SPEC_VERBS:  # fetch_client etc. run the spec's command
            if used.startswith(verb):
                name = "run_" + used[len(verb) :]
        assert name in fake, used


def test_fake_constants_and_attributes_match_real() -> None:
    real = P4.P4()
    fake = FakeP4(FakeServer())
    for const in ("RAISE_ALL", "RAISE_ERROR", "RAISE_ERRORS", "RAISE_NONE"):
        assert getattr(fake, const) == getattr(real, const)
    for attr in sorted(n for n in vars(fake) if not n.startswith("_")):
        assert attr in P4_DOC_ATTRIBUTES, attr
        assert hasattr(real, attr), attr  # P4's __getattr__ only synthesises run_* & co
    assert fake.exception_level == real.exception_level == 2


def test_fake_exception_levels_like_p4python(server: FakeServer) -> None:
    p4 = FakeP4(server)
    p4.port, p4.user = PORT, "bob"
    server.add_user("bob")  # no password
    p4.connect()
    p4.client = "ws"
    with pytest.raises(P4.P4Exception):
        p4.fetch_client("ws")  # fine: returns the template...
        p4.run_opened()  # ...but a warning raises at level 2
    with p4.at_exception_level(p4.RAISE_ERRORS):
        assert p4.run_changes("-m1", "//depot/none/...") == []
    assert p4.exception_level == 2
    spec = p4.fetch_client("ws")
    assert isinstance(spec, P4.Spec) and spec._root == spec["Root"]


def test_workspace_that_outlived_its_files_is_synced_again(
    env: dict[str, Any], server: FakeServer
) -> None:
    """A container made again under the same name: its old workspace must not fool the sync."""
    import shutil

    first = _co(env, server)
    # container and its /opt gone; the workspace stayed
    shutil.rmtree(Layout(env["root"]).container_dir("c1"))
    again = _co(env, server, password=None)
    assert again.workspace == first.workspace
    assert (Path(again.path) / "a.c").read_bytes() == b"int a;\n"
    assert again.transferred == 2


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_owner_gets_the_checkout(env: dict[str, Any], server: FakeServer) -> None:
    result = service.checkout(
        env["cfg"],
        "c1",
        "main",
        Layout(env["root"]).opt_dir("c1"),
        log=env["log"],
        password=lambda: PASSWORD,
        p4_factory=factory_for(server),
        owner=(12345, 23456),
    )
    for path in [Path(result.path), *Path(result.path).rglob("*")]:
        st = path.lstat()
        assert (st.st_uid, st.st_gid) == (12345, 23456), path
    assert Layout(env["root"]).container_dir("c1").stat().st_uid == 0  # only the checkout


def test_sync_writes_under_root_even_when_run_from_an_alt_root(
    tmp_path: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Perforce picks the root holding the current directory; devbox must always use Root."""
    alt = tmp_path / "alt"  # stands in for the host's /opt
    (alt / "elsewhere").mkdir(parents=True)
    root = tmp_path / "root" / "c1" / "opt"
    root.mkdir(parents=True)
    monkeypatch.chdir(alt / "elsewhere")
    settings = p4adapter.P4Settings(port=PORT, user="alice", ticket_file=str(tmp_path / "tickets"))
    with p4adapter.P4Session(
        settings, factory=factory_for(server), password=lambda: PASSWORD
    ) as session:
        session.save_workspace("ws1", root, ["//depot/main/... //ws1/src/..."], alt_root=str(alt))
        result = session.sync("ws1", "@1")
    assert result.files == 3
    assert (root / "src" / "a.c").exists()
    assert not (alt / "src").exists()


# -- hostile tenant: the workspace root is the container's tree ---------------------------------


@pytest.mark.skipif(os.geteuid() != 0, reason="the owner switch needs root")
def test_sync_never_writes_through_a_planted_symlink_as_root(
    env: dict[str, Any], server: FakeServer, tmp_path: Path
) -> None:
    """The tenant plants /opt/src/lib -> a host directory only root may write: P4 writes as
    the owner, so the write through the link is refused instead of landing on the host."""
    host_only = tmp_path / "host-only"
    host_only.mkdir(mode=0o755)
    opt = Layout(env["root"]).opt_dir("c1")
    (opt / "src").mkdir(parents=True)
    os.chown(opt, *OWNER)
    os.chown(opt / "src", *OWNER)
    (opt / "src" / "lib").symlink_to(host_only)
    with pytest.raises(Exception):  # noqa: B017 - whatever the library says, it must fail
        _co(env, server)
    assert not (host_only / "b.h").exists()
    assert list(host_only.iterdir()) == []


def test_p4config_files_in_the_tree_are_never_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A planted P4CONFIG file (P4PORT of the tenant's server) must not reach the real API."""
    tree = tmp_path / "opt" / "src"
    tree.mkdir(parents=True)
    (tree / ".p4config").write_text("P4PORT=tenant.example.com:1666\nP4USER=tenant\n")
    monkeypatch.setenv("P4CONFIG", ".p4config")
    monkeypatch.chdir(tree)
    p4 = p4adapter.default_factory()
    p4.cwd = str(tree)
    assert "P4CONFIG" not in os.environ
    assert p4.port != "tenant.example.com:1666" and p4.user != "tenant"
    assert p4.p4config_file in ("noconfig", None, "")
