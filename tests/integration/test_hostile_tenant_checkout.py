"""Hostile tenant (issue 11, attack 1): a container's checkout must never run its code on the host.

A real dev container made by ``devbox dockeruser make-dev-container`` from a local bare repo; as
``dev`` (via sudo, so as the container's root: a tenant) the test plants in ``/opt/src/.git``:

(a) executable hooks (post-merge, post-checkout, reference-transaction, pre-auto-gc),
(b) ``core.fsmonitor`` pointing at a script,
(c) an ``[include] path=`` to a file setting ``core.hooksPath``, ``core.sshCommand``,
    ``remote.origin.uploadpack`` and ``core.fsmonitor``.

Each payload touches ``/tmp/devbox-pwned-<run id>-<kind>``: if it ever ran on the host, that
file appears in the host's /tmp. Then ``devbox dockeruser checkout NAME --update`` runs as the
CLI (the installed entry point, with the lab environment). No marker may appear on the host,
and the update must still work (fetch + fast-forward to the new upstream commit).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.cli import REPO
from tests.conftest import RUN_ID
from tests.fixtures.devcontainers import DevEnv

pytestmark = [pytest.mark.integration, pytest.mark.slow]
KINDS = (
    "post-merge",
    "post-checkout",
    "reference-transaction",
    "pre-auto-gc",
    "fsmonitor",
    "include-hooks",
    "include-fsmonitor",
    "include-uploadpack",
    "include-ssh",
)
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@x",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@x",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
    "PATH": "/usr/bin:/bin",
}


def marker(kind: str) -> Path:
    return Path(f"/tmp/devbox-pwned-{RUN_ID}-{kind}")


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
        env={**GIT_ENV, "HOME": str(cwd)},
    ).stdout.strip()


def devbox(dev: DevEnv, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    exe = REPO / ".venv" / "bin" / "devbox"
    argv = [str(exe)] if exe.exists() else [sys.executable, "-m", "devbox"]
    return subprocess.run(
        [*argv, *args],
        cwd=REPO,
        env={**os.environ, **dev.env, **extra},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def payload(kind: str) -> str:
    return f"#!/bin/sh\nid -u > {marker(kind)}\nexit 0\n"


def plant_script(host_git: Path, variant: str) -> str:
    """Shell run as the container's root (dev + sudo) that arms every trap in /opt/src/.git.

    Paths the host would resolve are given as host paths (a tenant reads them from
    /proc/self/mountinfo), container paths for files the script writes.
    """
    files = {
        f"hooks/{k}": payload(k)
        for k in ("post-merge", "post-checkout", "reference-transaction", "pre-auto-gc")
    }
    files["fsmon.sh"] = payload("fsmonitor")
    files["evil-hooks/post-merge"] = payload("include-hooks")
    files["evil-hooks/post-checkout"] = payload("include-hooks")
    files["evil-hooks/reference-transaction"] = payload("include-hooks")
    files["fsmon2.sh"] = payload("include-fsmonitor")
    files["uploadpack.sh"] = (
        f'#!/bin/sh\nid -u > {marker("include-uploadpack")}\nexec git-upload-pack "$@"\n'
    )
    files["ssh.sh"] = f'#!/bin/sh\nid -u > {marker("include-ssh")}\nexec ssh "$@"\n'
    files["evil.inc"] = (
        "[core]\n"
        f"\thooksPath = {host_git}/evil-hooks\n"
        f"\tfsmonitor = {host_git}/fsmon2.sh\n"
        f"\tsshCommand = {host_git}/ssh.sh\n"
        '[remote "origin"]\n'
        f"\tuploadpack = {host_git}/uploadpack.sh\n"
        "[gc]\n\tauto = 1\n"
    )
    lines = ["set -e", "cd /opt/src/.git", "mkdir -p hooks evil-hooks"]
    for rel, text in files.items():
        lines.append(f"cat > {rel} <<'DEVBOX_EOF'\n{text}DEVBOX_EOF")
        lines.append(f"chmod 0755 {rel}")
    # (b) core.fsmonitor straight in .git/config, (c) the include (relative: next to config)
    if variant == "fsmonitor":
        lines.append(f"printf '[core]\\n\\tfsmonitor = {host_git}/fsmon.sh\\n' >> config")
    if variant == "include":
        lines.append("printf '[include]\\n\\tpath = evil.inc\\n' >> config")
    lines.append("chown -R dev:dev /opt/src/.git")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("variant", ["hooks", "fsmonitor", "include"])
def test_checkout_update_never_runs_tenant_code_on_the_host(
    devenv: DevEnv, dev_image: str, engine: Any, tmp_path: Path, variant: str
) -> None:
    for kind in KINDS:
        marker(kind).unlink(missing_ok=True)
    # an upstream of our own (the shared session repo must not get new commits)
    work = tmp_path / "upstream"
    (work / "src").mkdir(parents=True)
    (work / "README").write_text("hostile tenant test\n")
    git("init", "-q", "-b", "main", cwd=work)
    git("add", ".", cwd=work)
    git("commit", "-q", "-m", "first", cwd=work)
    bare = tmp_path / "upstream.git"
    git("clone", "-q", "--bare", str(work), str(bare), cwd=tmp_path)
    git("remote", "add", "origin", str(bare), cwd=work)
    branch_map = tmp_path / "branches.toml"
    branch_map.write_text(
        f'[[branch]]\nname = "main"\nvcs = "git"\nurl = "{bare}"\n'
        f'ref = "main"\nimage = "{dev_image}"\nlicense = "dev-main"\n'
    )
    extra = {"DEVBOX_BRANCHES_MAP": str(branch_map)}
    name = devenv.name("evil")
    made = devbox(
        devenv, "dockeruser", "make-dev-container", name, "--branch", "main", "--json", **extra
    )
    assert made.returncode == 0, made.stderr
    opt = Path(json.loads(made.stdout)["opt_dir"])
    assert (opt / "src" / "README").is_file(), made.stdout
    try:
        ctr = engine.containers.get(name)
        script = plant_script(opt / "src" / ".git", variant)
        code, out = ctr.exec_run(["sudo", "-n", "sh", "-c", script], user="dev")
        assert code == 0, out.decode(errors="replace")
        (work / "NEW").write_text("second\n")
        git("add", ".", cwd=work)
        git("commit", "-q", "-m", "second", cwd=work)
        git("push", "-q", "origin", "HEAD:refs/heads/main", cwd=work)
        newest = git("rev-parse", "HEAD", cwd=work)

        result = devbox(devenv, "dockeruser", "checkout", name, "--update", "--json", **extra)

        fired = {}
        for kind in KINDS:
            path = marker(kind)
            if path.exists():
                st = path.lstat()
                fired[kind] = f"uid {st.st_uid}, ran as uid {path.read_text().strip()}"
        assert not fired, f"tenant code ran on the host: {fired}"
        assert result.returncode == 0, result.stderr
        record = json.loads(result.stdout)
        assert record["revision"] == newest
        code, out = ctr.exec_run(["cat", "/opt/src/NEW"], user="dev")
        assert code == 0 and out == b"second\n", out
        # the checkout still belongs to the container's dev user, nothing to root
        for path in (opt / "src" / "NEW", opt / "src" / ".git" / "HEAD"):
            assert path.lstat().st_uid != 0, path
    finally:
        for kind in KINDS:
            marker(kind).unlink(missing_ok=True)
