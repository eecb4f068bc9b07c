"""git, through the system ``git`` (argv only, via :func:`devbox.adapters.host.process.run`).

A checkout is ``git init`` + ``git fetch`` of exactly the mapped ref + ``git checkout``, so it
works in a directory that already holds other files (an /opt seed) and never clobbers them:
git refuses to overwrite untracked files. Updates fetch and fast-forward only; a diverged or
locally modified checkout is reported, never reset.

The checkout lives in a container's /opt: the tenant's tree (its ``dev`` user has sudo). Its
``.git`` (config, includes, hooks, fsmonitor, ``remote.*.uploadpack``, ...) is the tenant's,
so host root never runs git in it. Two halves:

1. **upstream -> cache, as root**: ``git --git-dir=<cache>`` fetches the mapped ref into a
   bare repository devbox owns outside the container's tree (``<root>/containers/<name>/
   git-cache.git``). Nothing the container wrote is read; root's own credentials (ssh keys,
   credential helpers) reach only the upstream of the branch map.
2. **cache -> checkout, as the owner**: every git command in the checkout runs as the tree's
   owner (the container's dev uid; root is refused), groups cleared, environment scrubbed,
   HOME an empty devbox directory, no system/global config, in a private mount namespace
   where the checkout is bind-mounted (:class:`devbox.adapters.host.privdrop.OwnerSandbox`). It
   fetches from the cache over a pipe to an ``upload-pack`` root runs on the cache. Hooks are
   off (``core.hooksPath=/dev/null``), fsmonitor off, only the ``file`` protocol allowed (an
   ``insteadOf`` cannot redirect to ``ext::`` or ssh), ``--upload-pack`` given on the command
   line. git still reads the repository's own config: whatever it could make git run runs as
   the owner uid, which is the container's own user, never root. ``safe.directory`` is never
   set: git's ownership check stays on.

The revision recorded is the cache's (devbox's own); the checkout's HEAD must match it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from devbox.adapters.host import privdrop
from devbox.adapters.host.process import require, run
from devbox.branches import validate_git_url, validate_ref, validate_rel_path
from devbox.errors import DevboxError, OperationFailed, UserError
from devbox.oplog import NULL_LOG, OpLog

Progress = Callable[[float, float | None, str], None]

_PROGRESS_RE = re.compile(r"^(?:remote: )?([A-Za-z][A-Za-z ]+):\s+(\d+)% \((\d+)/(\d+)\)")
_SHA_RE = re.compile(r"^[0-9a-f]{7,40}$")
WANT = "refs/devbox/want"  # in the cache: what the checkout gets
CACHE_URL = "/devbox-cache"  # what the owner's git fetches from (the pipe to upload-pack)

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


@dataclass(frozen=True)
class GitCheckout:
    url: str
    ref: str  # what was asked for ("" = the remote's default branch)
    kind: str  # "branch", "tag" or "commit"
    resolved: str  # branch/tag name or commit actually checked out
    commit: str
    path: Path
    files: int
    fetched: bool  # False when an update found nothing new


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


class _Runner:
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


class _Cache(_Runner):
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


class _Owner(_Runner):
    """git as the checkout's owner, in the checkout (see the module docstring)."""

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

    def fetch_from(self, cache: _Cache, fetch_args: Sequence[str]) -> None:
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


def _resolve_remote_ref(git: _Cache, url: str, ref: str) -> tuple[str, str]:
    """(kind, name) of ``ref`` at ``url``: a branch, a tag or a commit id."""
    try:
        if not ref:
            out = git("ls-remote", "--symref", "--", url, "HEAD")
            for line in out.splitlines():
                if line.startswith("ref: refs/heads/") and line.endswith("\tHEAD"):
                    return "branch", line[len("ref: refs/heads/") : -len("\tHEAD")]
            raise UserError(
                f"git repository {url} has no default branch",
                hint='set ref = "<branch>" in the branch map',
            )
        out = git("ls-remote", "--heads", "--tags", "--", url, ref)
    except UserError:
        raise
    except OperationFailed as err:
        raise OperationFailed(
            f"cannot read git repository {url}: {err.message}",
            hint="check the url in the branch map and your access",
        ) from err
    names = {line.split("\t", 1)[1] for line in out.splitlines() if "\t" in line}
    if f"refs/heads/{ref}" in names:
        return "branch", ref
    if f"refs/tags/{ref}" in names:
        return "tag", ref
    if _SHA_RE.fullmatch(ref):
        return "commit", ref
    raise UserError(
        f"git ref '{ref}' not found in {url}",
        hint="check the ref in the branch map (a branch, a tag or a commit id)",
    )


def _count_files(git: _Owner) -> int:
    out = git("ls-files", "-t", "-z")
    return sum(1 for item in out.split("\0") if item and not item.startswith("S "))


def _current_branch(git: _Owner) -> str:
    return git("symbolic-ref", "-q", "--short", "HEAD", check=False).strip()


def checkout(
    url: str,
    ref: str,
    dest: Path,
    *,
    cache: Path,
    top: Path | None = None,
    owner: tuple[int, int] | None = None,
    depth: int = 0,
    sparse: Sequence[str] = (),
    update: bool = False,
    log: OpLog = NULL_LOG,
    progress: Progress | None = None,
) -> GitCheckout:
    """Check out ``ref`` of ``url`` into ``dest``, or with ``update`` bring it up to date.

    ``cache`` is devbox's bare repository for this checkout (outside the container's tree).
    ``top`` is the container's /opt on the host (``dest`` is beneath it; no link between
    them is followed) and ``owner`` the uid/gid every git command in ``dest`` runs as; as
    root, ``owner`` is required and must not be root. A fresh checkout that fails is removed
    again (only what this call created).
    """
    validate_git_url(url)
    if ref:
        validate_ref(ref, "git ref")
    for item in sparse:
        validate_rel_path(item, "sparse path")
    top = top if top is not None else dest
    rel = os.path.relpath(dest, top)
    if rel != ".":
        validate_rel_path(rel, "checkout path")
    if os.geteuid() == 0:
        if owner is None:
            raise UserError(
                f"no owner given for the checkout in {dest}",
                hint="devbox runs git in a container's tree only as its owner",
            )
        privdrop.check_owner(*owner, dest)
    created_dest = not os.path.lexists(dest)
    fd = privdrop.open_dir_beneath(top, rel, create_as=owner if os.geteuid() == 0 else None)
    try:
        fresh = not os.path.lexists(os.path.join(f"/proc/self/fd/{fd}", ".git"))
        if not fresh and not update:
            raise UserError(
                f"{dest} already holds a git checkout",
                hint="use --update to fetch and fast-forward it",
            )
        sandbox = privdrop.OwnerSandbox(fd, *owner) if os.geteuid() == 0 and owner else None
        try:
            git = _Owner(dest, sandbox, log, progress)
            mirror = _Cache(cache, log, progress)
            try:
                return _checkout(
                    git, mirror, url, ref, dest, depth=depth, sparse=sparse, fresh=fresh
                )
            except BaseException:
                if fresh:
                    log.write(f"git: removing the partial checkout in {dest}")
                    _remove_partial(fd, created_dest, top, rel)
                raise
        finally:
            if sandbox is not None:
                sandbox.close()
    finally:
        os.close(fd)


def _remove_partial(fd: int, created_dest: bool, top: Path, rel: str) -> None:
    """Remove what a failed fresh checkout made: its .git, and ``dest`` if this call made it.

    Through the fd (never re-resolving the path the tenant controls); shutil.rmtree with
    ``dir_fd`` does not follow symlinks.
    """
    try:
        shutil.rmtree(".git", dir_fd=fd)
    except FileNotFoundError:
        pass
    except OSError:
        return
    if created_dest and rel != ".":
        parent, name = os.path.split(rel)
        try:
            pfd = privdrop.open_dir_beneath(top, parent or ".")
        except UserError:
            return
        try:
            shutil.rmtree(name, dir_fd=pfd)
        except OSError:
            pass
        finally:
            os.close(pfd)


def _checkout(
    git: _Owner,
    cache: _Cache,
    url: str,
    ref: str,
    dest: Path,
    *,
    depth: int,
    sparse: Sequence[str],
    fresh: bool,
) -> GitCheckout:
    cache.ensure()
    kind, name = _resolve_remote_ref(cache, url, ref)
    # 1. upstream -> devbox's cache, as root
    src = {"branch": f"refs/heads/{name}", "tag": f"refs/tags/{name}"}.get(kind, name)
    fetch = ["fetch", "--progress", "--no-tags", "--no-write-fetch-head"]
    if depth and fresh:
        fetch.append(f"--depth={depth}")
    try:
        cache(*fetch, "--", url, f"+{src}:{WANT}", stream=True)
    except OperationFailed as err:
        raise OperationFailed(
            f"git fetch of {kind} '{name}' from {url} failed: {err.message}", hint=err.hint
        ) from err
    new = cache("rev-parse", "--verify", f"{WANT}^{{commit}}").strip()
    # 2. cache -> the checkout, as its owner
    if fresh:
        git("init", "-q")
        git("remote", "add", "origin", url)
        if sparse:
            git("sparse-checkout", "set", "--cone", "--", *sparse)
    else:
        current = git("remote", "get-url", "origin", check=False).strip()
        if current != url:
            raise UserError(
                f"{dest} is a checkout of {current or 'an unknown remote'}, not {url}",
                hint="the branch map changed; check it out into a new container",
            )
    before = git("rev-parse", "-q", "--verify", "HEAD", check=False).strip()
    if kind == "branch":
        target = f"refs/remotes/origin/{name}"
    elif kind == "tag":
        target = f"refs/tags/{name}"
    else:
        target = "refs/devbox/commit"
    owner_fetch = ["--no-tags", "--no-write-fetch-head"]
    if depth and fresh:
        owner_fetch.append(f"--depth={depth}")
    git.fetch_from(cache, [*owner_fetch, "--", CACHE_URL, f"+{WANT}:{target}"])
    got = git("rev-parse", "--verify", f"{target}^{{commit}}").strip()
    if got != new:
        raise OperationFailed(
            f"the checkout in {dest} did not get commit {new} (has {got})",
            hint="retry; if it persists, remake the container",
        )
    if fresh:
        if kind == "branch":
            git("checkout", "-q", "-B", name, "--track", f"origin/{name}")
        else:
            git("checkout", "-q", "--detach", new)
    elif kind == "branch":
        on = _current_branch(git)
        if on != name:
            raise UserError(
                f"the checkout in {dest} is on '{on or 'a detached HEAD'}', not on branch '{name}'",
                hint=f"switch back (git -C {dest} switch {name}) and retry",
            )
        try:
            git("merge", "-q", "--ff-only", f"origin/{name}")
        except DevboxError as err:
            raise OperationFailed(
                f"cannot fast-forward {dest} to origin/{name}: {err.message}",
                hint="the local branch has its own commits or changes that "
                "conflict; merge or rebase by hand",
            ) from err
    else:
        git("checkout", "-q", "--detach", new)
    commit = git("rev-parse", "HEAD").strip()
    if commit != new:
        raise OperationFailed(
            f"the checkout in {dest} is at {commit}, not at {new}",
            hint="check the checkout by hand (git status in the container)",
        )
    return GitCheckout(
        url=url,
        ref=ref,
        kind=kind,
        resolved=name,
        commit=new,
        path=dest,
        files=_count_files(git),
        fetched=fresh or new != before,
    )
