"""git checkout into a container's /opt, end to end, with real git (file:// and git daemon).

The dev-container-like setup: a busybox container with the host opt dir bind-mounted at /opt,
carrying the ``devbox.branch`` label that ``devbox dockeruser checkout NAME`` reads.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devbox.__main__ import main
from devbox.config import load as load_config
from devbox.errors import DevboxError, UserError
from devbox.oplog import OpLog
from devbox.paths import Layout
from devbox.services import checkout as service
from tests.conftest import RUN_ID
from tests.fixtures import engine as fx

pytestmark = pytest.mark.integration

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
}


OWNER = (4242, 4242)  # the checkout's owner: devbox never runs git in it as root


def co(*args: Any, **kwargs: Any) -> service.CheckoutResult:
    return service.checkout(*args, owner=OWNER, **kwargs)


def git(*args: str, cwd: Path | None = None) -> str:
    """The test's own git; in a checkout owned by OWNER through an explicit --git-dir (git's
    ownership check is for discovered repositories; safe.directory stays untouched)."""
    where = ["--git-dir", str(cwd / ".git")] if cwd and (cwd / ".git").is_dir() else []
    return subprocess.run(
        ["git", *where, *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **GIT_ENV},
    ).stdout.strip()


class Upstream:
    """A bare repository plus a work tree that commits and pushes to it."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.bare = base / "repos" / "product.git"
        self.work = base / "work"
        git("init", "-q", "--bare", "-b", "main", str(self.bare))
        git("init", "-q", "-b", "main", str(self.work))
        git("remote", "add", "origin", str(self.bare), cwd=self.work)

    def commit(self, files: dict[str, str], message: str = "c", branch: str = "main") -> str:
        for rel, text in files.items():
            path = self.work / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        git("add", "-A", cwd=self.work)
        git("commit", "-q", "-m", message, cwd=self.work)
        git("push", "-q", "origin", f"HEAD:refs/heads/{branch}", cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)

    def tag(self, name: str) -> None:
        git("tag", name, cwd=self.work)
        git("push", "-q", "origin", f"refs/tags/{name}", cwd=self.work)


def write_map(path: Path, url: str) -> Path:
    path.write_text(f"""
[[branch]]
name = "git/*"
vcs = "git"
url = "{url}"
ref = "{{{{ branch[4:] }}}}"

[[branch]]
name = "shallow"
vcs = "git"
url = "{url}"
ref = "main"
depth = 1
sparse = ["src"]
path = "code"

[[branch]]
name = "tagged"
vcs = "git"
url = "{url}"
ref = "v1"

[[branch]]
name = "nosuchref"
vcs = "git"
url = "{url}"
ref = "does-not-exist"

[[branch]]
name = "nosuchrepo"
vcs = "git"
url = "file:///nonexistent/devbox-test/repo.git"
""")
    return path


@pytest.fixture
def upstream(tmp_path: Path) -> Upstream:
    up = Upstream(tmp_path)
    up.commit(
        {
            "src/main.c": "int main(void) { return 0; }\n",
            "docs/readme.txt": "docs\n",
            "build/Makefile": "all:\n",
        },
        "first",
    )
    return up


@pytest.fixture
def git_daemon(upstream: Upstream) -> Iterator[str]:
    """``git daemon`` on 127.0.0.1 and a free port, serving the upstream's repos directory."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base = upstream.bare.parent
    proc = subprocess.Popen(
        [
            "git",
            "daemon",
            "--reuseaddr",
            "--export-all",
            "--listen=127.0.0.1",
            f"--port={port}",
            f"--base-path={base}",
            str(base),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail("git daemon did not start")
                time.sleep(0.1)
        yield f"git://127.0.0.1:{port}/{upstream.bare.name}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _cfg(root: Path, map_path: Path) -> Any:
    return load_config(
        environ={"DEVBOX_ROOT": str(root), "DEVBOX_BRANCHES_MAP": str(map_path)}, files=()
    )


def test_file_url_shallow_sparse_and_update(tmp_path: Path, upstream: Upstream) -> None:
    root = tmp_path / "root"
    cfg = _cfg(root, write_map(tmp_path / "map.toml", f"file://{upstream.bare}"))
    opt = Layout(root).opt_dir("c1")
    opt.mkdir(parents=True)
    (opt / "seeded.txt").write_text("from the /opt seed\n")  # must survive the checkout
    progress: list[tuple[float, float | None, str]] = []
    log = OpLog(root / "logs" / "c1.log")
    result = co(
        cfg, "c1", "shallow", opt, log=log, progress=lambda d, t, s: progress.append((d, t, s))
    )
    code = opt / "code"
    assert (code / "src" / "main.c").exists()
    assert not (code / "docs").exists() and not (code / "build").exists()  # sparse
    assert git("rev-parse", "--is-shallow-repository", cwd=code) == "true"
    assert result.revision == git("rev-parse", "HEAD", cwd=upstream.work)
    assert result.files == 1 and result.container_path == "/opt/code"
    assert (opt / "seeded.txt").read_text() == "from the /opt seed\n"
    assert progress, "no progress lines were parsed from git"
    record = json.loads((Layout(root).container_dir("c1") / "checkout.json").read_text())
    assert record["revision"] == result.revision
    second = upstream.commit({"src/more.c": "int x;\n"}, "second")
    updated = co(cfg, "c1", "shallow", opt, update=True, log=log)
    assert updated.revision == second == git("rev-parse", "HEAD", cwd=code)
    assert (code / "src" / "more.c").exists()
    assert updated.history[-1]["revision"] == result.revision
    assert "is at git" in (root / "logs" / "c1.log").read_text()


def test_tag_checkout_is_detached(tmp_path: Path, upstream: Upstream) -> None:
    upstream.tag("v1")
    tagged = git("rev-parse", "HEAD", cwd=upstream.work)
    upstream.commit({"src/later.c": "later\n"})
    root = tmp_path / "root"
    cfg = _cfg(root, write_map(tmp_path / "map.toml", str(upstream.bare)))
    result = co(cfg, "c1", "tagged", Layout(root).opt_dir("c1"))
    assert result.revision == tagged
    assert not (Path(result.path) / "src" / "later.c").exists()


def test_local_changes_are_never_overwritten(tmp_path: Path, upstream: Upstream) -> None:
    root = tmp_path / "root"
    cfg = _cfg(root, write_map(tmp_path / "map.toml", str(upstream.bare)))
    result = co(cfg, "c1", "git/main", Layout(root).opt_dir("c1"))
    mine = Path(result.path) / "src" / "main.c"
    mine.write_text("my local edit\n")
    upstream.commit({"src/main.c": "upstream edit\n"})
    with pytest.raises(DevboxError, match="cannot fast-forward"):
        co(cfg, "c1", "git/main", Layout(root).opt_dir("c1"), update=True)
    assert mine.read_text() == "my local edit\n"
    record = Layout(root).container_dir("c1") / "checkout.json"
    assert json.loads(record.read_text())["revision"] == result.revision


def test_bad_ref_and_bad_repo_leave_nothing_behind(tmp_path: Path, upstream: Upstream) -> None:
    root = tmp_path / "root"
    cfg = _cfg(root, write_map(tmp_path / "map.toml", str(upstream.bare)))
    with pytest.raises(UserError, match="git ref 'does-not-exist' not found"):
        co(cfg, "c1", "nosuchref", Layout(root).opt_dir("c1"))
    assert not (Layout(root).opt_dir("c1") / "src").exists()
    with pytest.raises(DevboxError, match="cannot read git repository"):
        co(cfg, "c2", "nosuchrepo", Layout(root).opt_dir("c2"))
    assert not (Layout(root).opt_dir("c2") / "src").exists()
    assert not (Layout(root).container_dir("c1") / "checkout.json").exists()
    with pytest.raises(UserError, match="unknown branch 'gti/main'"):
        co(cfg, "c1", "gti/main", Layout(root).opt_dir("c1"))


def test_cli_checkout_into_container_via_git_daemon(
    tmp_path: Path,
    upstream: Upstream,
    git_daemon: str,
    engine: Any,
    busybox_image: str,
    devbox_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """devbox dockeruser checkout NAME: branch from the label, files visible in /opt."""
    monkeypatch.setenv("DEVBOX_BRANCHES_MAP", str(write_map(tmp_path / "map.toml", git_daemon)))
    name = fx.test_name("gitco")
    opt = Layout(Path(devbox_env["DEVBOX_ROOT"])).opt_dir(name)
    opt.mkdir(parents=True)
    os.chown(opt, 1000, 1000)  # /opt belongs to the container's dev user
    container = engine.containers.run(
        busybox_image,
        name=name,
        detach=True,
        labels={"devbox.branch": "git/main", fx.TEST_LABEL: RUN_ID},
        volumes={str(opt): {"bind": "/opt", "mode": "rw"}},
    )
    try:
        assert main(["dockeruser", "checkout", name, "--json"]) == 0
        first = json.loads(capsys.readouterr().out)
        assert first["revision"] == git("rev-parse", "HEAD", cwd=upstream.work)
        assert first["source"] == git_daemon
        assert first["path"] == str(opt / "src"), first
        code, out = container.exec_run(["cat", "/opt/src/src/main.c"])
        assert code == 0 and b"int main" in out
        code, out = container.exec_run(["touch", "/opt/src/src/mine.c"], user="1000:1000")
        assert code == 0, out  # the dev user can work in its checkout
        # the same checkout again without --update: nothing fetched, same record
        assert main(["dockeruser", "checkout", name, "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["revision"] == first["revision"]

        newest = upstream.commit({"src/feature.c": "feature\n"}, "feature")
        assert main(["dockeruser", "checkout", name, "--update", "--json"]) == 0
        second = json.loads(capsys.readouterr().out)
        assert second["revision"] == newest
        assert second["revision"] == git("rev-parse", "HEAD", cwd=opt / "src")
        code, out = container.exec_run(["cat", "/opt/src/src/feature.c"])
        assert code == 0 and out == b"feature\n"
        record = json.loads((opt.parent / "checkout.json").read_text())
        assert record["revision"] == newest and record["branch"] == "git/main"
        log = (Path(devbox_env["DEVBOX_ROOT"]) / "logs" / f"{name}.log").read_text()
        assert newest in log
        # a wrong branch name is a one-line user error, exit code 2
        assert main(["dockeruser", "checkout", name, "--branch", "-x"]) == 2
        assert main(["dockeruser", "checkout", name, "--branch", "git/main x"]) == 2
    finally:
        container.remove(force=True)


def test_root_owned_tree_is_refused(tmp_path: Path, upstream: Upstream) -> None:
    """No owner given and /opt owned by root (a tenant can chown it): refused, nothing made."""
    root = tmp_path / "root"
    cfg = _cfg(root, write_map(tmp_path / "map.toml", str(upstream.bare)))
    opt = Layout(root).opt_dir("c1")
    opt.mkdir(parents=True)
    with pytest.raises(UserError, match="belongs to root"):
        service.checkout(cfg, "c1", "git/main", opt)
    assert list(opt.iterdir()) == []
    assert not (root / "containers" / "c1" / "checkout.json").exists()
    # the owner is recorded by the first checkout and wins over the tree's owner later
    first = co(cfg, "c1", "git/main", opt)
    assert (first.owner_uid, first.owner_gid) == OWNER
    os.chown(opt, 0, 0)  # the tenant gives its /opt to root: the record still says OWNER
    again = service.checkout(cfg, "c1", "git/main", opt, update=True)
    assert again.owner_uid == OWNER[0]
    assert (opt / "src" / ".git" / "HEAD").lstat().st_uid == OWNER[0]
