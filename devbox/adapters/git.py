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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from devbox.adapters.git_runners import CacheGit, OwnerGit, Progress
from devbox.adapters.host import privdrop
from devbox.branches import validate_git_url, validate_ref, validate_rel_path
from devbox.errors import DevboxError, OperationFailed, UserError
from devbox.oplog import NULL_LOG, OpLog

_SHA_RE = re.compile(r"^[0-9a-f]{7,40}$")
WANT = "refs/devbox/want"  # in the cache: what the checkout gets
CACHE_URL = "/devbox-cache"  # what the owner's git fetches from (the pipe to upload-pack)


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


def _resolve_remote_ref(git: CacheGit, url: str, ref: str) -> tuple[str, str]:
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


def _count_files(git: OwnerGit) -> int:
    out = git("ls-files", "-t", "-z")
    return sum(1 for item in out.split("\0") if item and not item.startswith("S "))


def _current_branch(git: OwnerGit) -> str:
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
            git = OwnerGit(dest, sandbox, log, progress)
            mirror = CacheGit(cache, log, progress)
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
    git: OwnerGit,
    cache: CacheGit,
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
