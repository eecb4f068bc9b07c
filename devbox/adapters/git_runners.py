"""How devbox runs git: as root on its own bare cache (:class:`CacheGit`), and as the
checkout's owner in the tenant's tree (:class:`OwnerGit`: hardened ``-c`` settings, a scrubbed
environment, the :class:`~devbox.adapters.host.privdrop.OwnerSandbox`, and a fetch from the
cache over pipes to a root ``upload-pack``). Why it is split so: :mod:`devbox.adapters.git`.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from devbox.adapters.host import privdrop
from devbox.adapters.host.process import require, run
from devbox.errors import OperationFailed
from devbox.oplog import OpLog

Progress = Callable[[float, float | None, str], None]

_PROGRESS_RE = re.compile(r"^(?:remote: )?([A-Za-z][A-Za-z ]+):\s+(\d+)% \((\d+)/(\d+)\)")

# for every git run in the tenant's tree: later -c wins over the repository's config
HARDENING = (
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",
    "core.untrackedCache=false",
    "protocol.allow=never",
    "protocol.file.allow=always",
    "core.sshCommand=false",
    "credential.helper=",
    "core.askPass=/bin/false",
    "core.pager=cat",
    "gc.auto=0",
    "maintenance.auto=false",
    "fetch.writeCommitGraph=false",
    "core.alternateRefsCommand=",
    "submodule.recurse=false",
    "fetch.recurseSubmodules=false",
    "core.gitProxy=",
    "diff.external=",
    "uploadpack.packObjectsHook=",
)


def _root_env() -> dict[str, str]:
    """Environment of the upstream fetch (devbox's own, into devbox's own cache)."""
    env = dict(os.environ)
    env["GIT_TERMINAL_PROMPT"] = "0"  # never hang asking for a password
    env["LC_ALL"] = "C"
    env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
    return env


def _owner_env() -> dict[str, str]:
    """What the owner's git gets on top of the sandbox's scrubbed environment."""
    return {
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_ATTR_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "/bin/false",
        "GIT_PROTOCOL_FROM_USER": "0",
        "GIT_PROXY_COMMAND": "",
        "GIT_OPTIONAL_LOCKS": "0",
        "GIT_SSH_COMMAND": "false",
    }


class _GitRunner:
    def __init__(self, log: OpLog, progress: Progress | None) -> None:
        self.exe = require("git", "git")
        self.log = log
        self.progress = progress

    def _on_line(self, line: str) -> None:
        if self.progress is None:
            return
        match = _PROGRESS_RE.match(line.strip())
        if match:
            phase, _pct, done, total = match.groups()
            self.progress(float(done), float(total), phase.strip())


class CacheGit(_GitRunner):
    """git as root on devbox's own bare cache repository (never the container's tree)."""

    def __init__(self, path: Path, log: OpLog, progress: Progress | None) -> None:
        super().__init__(log, progress)
        self.path = path
        self.env = _root_env()

    def ensure(self) -> None:
        if not (self.path / "HEAD").is_file():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            run([self.exe, "init", "-q", "--bare", str(self.path)], log=self.log, env=self.env)

    def __call__(self, *args: str, check: bool = True, stream: bool = False) -> str:
        argv = [self.exe, "-c", "core.hooksPath=/dev/null", f"--git-dir={self.path}", *args]
        result = run(
            argv,
            log=self.log,
            env=self.env,
            check=check,
            on_line=self._on_line if stream else None,
            timeout=3600,
        )
        return result.stdout or ""


class OwnerGit(_GitRunner):
    """git as the checkout's owner, in the checkout (see :mod:`devbox.adapters.git`)."""

    def __init__(
        self,
        dest: Path,
        sandbox: privdrop.OwnerSandbox | None,
        log: OpLog,
        progress: Progress | None,
    ) -> None:
        super().__init__(log, progress)
        self.dest = dest
        self.sandbox = sandbox

    def argv(self, *args: str) -> list[str]:
        hardening = [item for pair in HARDENING for item in ("-c", pair)]
        where = [] if self.sandbox is not None else ["-C", str(self.dest)]
        return [self.exe, *hardening, *where, *args]

    def _env(self) -> dict[str, str]:
        if self.sandbox is not None:
            return self.sandbox.env(_owner_env())
        return {
            "PATH": privdrop.SAFE_PATH,
            "HOME": os.environ.get("HOME", "/nonexistent"),
            "LC_ALL": "C",
            **_owner_env(),
        }

    def __call__(self, *args: str, check: bool = True) -> str:
        preexec = self.sandbox.preexec if self.sandbox is not None else None
        result = run(
            self.argv(*args),
            log=self.log,
            env=self._env(),
            check=check,
            preexec=preexec,
            timeout=3600,
        )
        return result.stdout or ""

    def fetch_from(self, cache: CacheGit, fetch_args: Sequence[str]) -> None:
        """``git fetch`` from the cache: root's ``upload-pack`` on one end of two pipes."""
        to_up_r, to_up_w = os.pipe()
        from_up_r, from_up_w = os.pipe()
        if self.sandbox is not None:  # reopened by path below: the owner must own them
            os.fchown(from_up_r, self.sandbox.uid, self.sandbox.gid)
            os.fchown(to_up_w, self.sandbox.uid, self.sandbox.gid)
        # dash takes no fd above 9 in a redirection: name the inherited pipes by path
        relay = f"f() {{ cat /proc/self/fd/{from_up_r} & exec cat >/proc/self/fd/{to_up_w}; }}; f"
        argv = self.argv("fetch", "--progress", f"--upload-pack={relay}", *fetch_args)
        self.log.write(f"$ {' '.join(argv)}  (upload-pack: root, {cache.path})")
        upload = subprocess.Popen(  # devbox's own cache, as root: trusted
            [
                cache.exe,
                "-c",
                "core.hooksPath=/dev/null",
                "upload-pack",
                "--strict",
                str(cache.path),
            ],
            stdin=to_up_r,
            stdout=from_up_w,
            stderr=subprocess.DEVNULL,
            env=cache.env,
            close_fds=True,
        )
        os.close(to_up_r)
        os.close(from_up_w)
        try:
            preexec = self.sandbox.preexec if self.sandbox is not None else None
            child = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=self._env(),
                preexec_fn=preexec,
                text=True,
                pass_fds=(from_up_r, to_up_w),
                cwd=None if self.sandbox else self.dest,
            )
        except BaseException:
            upload.kill()
            upload.wait()
            raise
        finally:
            os.close(from_up_r)
            os.close(to_up_w)
        lines: list[str] = []
        try:
            assert child.stdout is not None
            for raw in child.stdout:
                line = raw.rstrip("\n")
                lines.append(line)
                self.log.write(f"  | {line}")
                self._on_line(line)
            rc = child.wait(timeout=3600)
        except BaseException:
            child.kill()
            child.wait()
            raise
        finally:
            try:
                upload.wait(timeout=60)
            except subprocess.TimeoutExpired:
                upload.kill()
                upload.wait()
        if rc != 0:
            tail = [line for line in lines if line.strip()][-1:] or [""]
            raise OperationFailed(
                f"'git fetch' from the devbox cache failed with exit code {rc}: {tail[0]}",
                hint=f"log: {self.log.path}",
            )
