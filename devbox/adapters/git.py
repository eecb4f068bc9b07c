"""git, through the system ``git`` (argv only, via :func:`devbox.adapters.process.run`).

A checkout is ``git init`` + ``git fetch`` of exactly the mapped ref + ``git checkout``, so it
works in a directory that already holds other files (an /opt seed) and never clobbers them:
git refuses to overwrite untracked files. Updates fetch and fast-forward only; a diverged or
locally modified checkout is reported, never reset.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from devbox.adapters.process import require, run
from devbox.branches import validate_git_url, validate_ref, validate_rel_path
from devbox.errors import DevboxError, OperationFailed, UserError
from devbox.oplog import NULL_LOG, OpLog

Progress = Callable[[float, float | None, str], None]

_PROGRESS_RE = re.compile(r"^(?:remote: )?([A-Za-z][A-Za-z ]+):\s+(\d+)% \((\d+)/(\d+)\)")
_SHA_RE = re.compile(r"^[0-9a-f]{7,40}$")


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


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["GIT_TERMINAL_PROMPT"] = "0"  # never hang asking for a password
    env["LC_ALL"] = "C"
    env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
    return env


class _Git:
    def __init__(self, dest: Path, log: OpLog, progress: Progress | None) -> None:
        self.exe = require("git", "git")
        self.dest = dest
        self.log = log
        self.progress = progress
        self.env = _env()

    def argv(self, *args: str) -> list[str]:
        return [self.exe, "-c", f"safe.directory={self.dest}", "-C", str(self.dest), *args]

    def __call__(self, *args: str, check: bool = True, stream: bool = False) -> str:
        on_line = self._on_line if stream else None
        result = run(self.argv(*args), log=self.log, env=self.env, check=check,
                     on_line=on_line, timeout=3600)
        return result.stdout or ""

    def ok(self, *args: str) -> bool:
        return run(self.argv(*args), log=self.log, env=self.env, check=False).returncode == 0

    def _on_line(self, line: str) -> None:
        if self.progress is None:
            return
        match = _PROGRESS_RE.match(line.strip())
        if match:
            phase, _pct, done, total = match.groups()
            self.progress(float(done), float(total), phase.strip())


def _resolve_remote_ref(git: _Git, url: str, ref: str) -> tuple[str, str]:
    """(kind, name) of ``ref`` at ``url``: a branch, a tag or a commit id."""
    try:
        if not ref:
            out = git("ls-remote", "--symref", "--", url, "HEAD")
            for line in out.splitlines():
                if line.startswith("ref: refs/heads/") and line.endswith("\tHEAD"):
                    return "branch", line[len("ref: refs/heads/"):-len("\tHEAD")]
            raise UserError(f"git repository {url} has no default branch",
                            hint="set ref = \"<branch>\" in the branch map")
        out = git("ls-remote", "--heads", "--tags", "--", url, ref)
    except UserError:
        raise
    except OperationFailed as err:
        raise OperationFailed(f"cannot read git repository {url}: {err.message}",
                              hint="check the url in the branch map and your access") from err
    names = {line.split("\t", 1)[1] for line in out.splitlines() if "\t" in line}
    if f"refs/heads/{ref}" in names:
        return "branch", ref
    if f"refs/tags/{ref}" in names:
        return "tag", ref
    if _SHA_RE.match(ref):
        return "commit", ref
    raise UserError(f"git ref '{ref}' not found in {url}",
                    hint="check the ref in the branch map (a branch, a tag or a commit id)")


def _count_files(git: _Git) -> int:
    out = git("ls-files", "-t", "-z")
    return sum(1 for item in out.split("\0") if item and not item.startswith("S "))


def _current_branch(git: _Git) -> str:
    return git("symbolic-ref", "-q", "--short", "HEAD", check=False).strip()


def checkout(
    url: str,
    ref: str,
    dest: Path,
    *,
    depth: int = 0,
    sparse: Sequence[str] = (),
    update: bool = False,
    log: OpLog = NULL_LOG,
    progress: Progress | None = None,
) -> GitCheckout:
    """Check out ``ref`` of ``url`` into ``dest``, or with ``update`` bring it up to date.

    A fresh checkout that fails is removed again (only what this call created).
    """
    validate_git_url(url)
    if ref:
        validate_ref(ref, "git ref")
    for item in sparse:
        validate_rel_path(item, "sparse path")
    fresh = not (dest / ".git").exists()
    if not fresh and not update:
        raise UserError(f"{dest} already holds a git checkout",
                        hint="use --update to fetch and fast-forward it")
    created_dest = not dest.exists()
    dest.mkdir(parents=True, exist_ok=True)
    git = _Git(dest, log, progress)
    try:
        return _checkout(git, url, ref, dest, depth=depth, sparse=sparse, fresh=fresh)
    except BaseException:
        if fresh:
            log.write(f"git: removing the partial checkout in {dest}")
            if created_dest:
                shutil.rmtree(dest, ignore_errors=True)
            else:
                shutil.rmtree(dest / ".git", ignore_errors=True)
        raise


def _checkout(git: _Git, url: str, ref: str, dest: Path, *, depth: int,
              sparse: Sequence[str], fresh: bool) -> GitCheckout:
    if fresh:
        git("init", "-q")
        git("remote", "add", "origin", url)
        if sparse:
            git("sparse-checkout", "set", "--cone", "--", *sparse)
    else:
        current = git("remote", "get-url", "origin", check=False).strip()
        if current != url:
            raise UserError(f"{dest} is a checkout of {current or 'an unknown remote'}, "
                            f"not {url}",
                            hint="the branch map changed; check it out into a new container")
    kind, name = _resolve_remote_ref(git, url, ref)
    before = git("rev-parse", "-q", "--verify", "HEAD", check=False).strip()
    fetch = ["fetch", "--progress", "--no-tags"]
    if depth and fresh:
        fetch.append(f"--depth={depth}")
    if kind == "branch":
        refspec = f"+refs/heads/{name}:refs/remotes/origin/{name}"
        target = f"refs/remotes/origin/{name}"
    elif kind == "tag":
        refspec = f"+refs/tags/{name}:refs/tags/{name}"
        target = f"refs/tags/{name}"
    else:
        refspec = name
        target = "FETCH_HEAD"
    try:
        git(*fetch, "origin", refspec, stream=True)
    except OperationFailed as err:
        raise OperationFailed(f"git fetch of {kind} '{name}' from {url} failed: {err.message}",
                              hint=err.hint) from err
    new = git("rev-parse", "--verify", f"{target}^{{commit}}").strip()
    if fresh:
        if kind == "branch":
            git("checkout", "-q", "-B", name, "--track", f"origin/{name}")
        else:
            git("checkout", "-q", "--detach", new)
    elif kind == "branch":
        on = _current_branch(git)
        if on != name:
            raise UserError(f"the checkout in {dest} is on '{on or 'a detached HEAD'}', "
                            f"not on branch '{name}'",
                            hint=f"switch back (git -C {dest} switch {name}) and retry")
        try:
            git("merge", "-q", "--ff-only", f"origin/{name}")
        except DevboxError as err:
            raise OperationFailed(f"cannot fast-forward {dest} to origin/{name}: {err.message}",
                                  hint="the local branch has its own commits or changes that "
                                       "conflict; merge or rebase by hand") from err
    else:
        git("checkout", "-q", "--detach", new)
    commit = git("rev-parse", "HEAD").strip()
    return GitCheckout(url=url, ref=ref, kind=kind, resolved=name, commit=commit, path=dest,
                       files=_count_files(git), fetched=fresh or commit != before)
