"""Check a branch out into a container's /opt (Perforce or git), update it, record it.

The branch resolves through the branch map (:mod:`devbox.branches`). The sources go to
``<opt_dir>/<path>`` on the host, which the container sees as ``/opt/<path>``. Docker labels
cannot change after a container is made, so the record of what is checked out is the state file
``<root>/<name>/checkout.json`` (plus the container's log); make-dev-container puts the first
revision into the labels as well.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from devbox import branches
from devbox.config import Config
from devbox.errors import UserError
from devbox.naming import validate_name
from devbox.oplog import NULL_LOG, OpLog
from devbox.paths import Layout

Progress = Callable[[float, float | None, str], None]
PasswordProvider = Callable[[], str]

STATE_FILE = "checkout.json"
HISTORY = 20


@dataclass(frozen=True)
class CheckoutResult:
    container: str
    branch: str
    vcs: str  # "p4" or "git"
    source: str  # depot path or git URL
    ref: str  # what the map asked for ("" = head / default branch)
    revision: str  # git commit id or Perforce changelist number
    path: str  # host path of the checkout
    container_path: str  # where the container sees it (/opt/...)
    files: int  # files in the checkout
    transferred: int = 0  # files this call fetched/synced (0: already up to date)
    workspace: str = ""  # Perforce client workspace ("" for git)
    checked_out_at: str = ""
    history: tuple[dict[str, str], ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["history"] = list(self.history)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckoutResult:
        known = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in known}
        values["history"] = tuple(values.get("history") or ())
        return cls(**values)


def state_path(cfg: Config, name: str) -> Path:
    return Layout(cfg.root).container_dir(name) / STATE_FILE


def read_state(cfg: Config, name: str) -> CheckoutResult | None:
    """What is checked out for container ``name`` (None: nothing yet)."""
    path = state_path(cfg, name)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise UserError(f"{path}: unreadable checkout record: {err}",
                        hint="remove the file and run 'devbox dockeruser checkout' again") from None
    return CheckoutResult.from_dict(data)


def _write_state(cfg: Config, result: CheckoutResult) -> None:
    path = state_path(cfg, result.container)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result.to_dict(), indent=2, sort_keys=True) + "\n",
                   encoding="utf-8")
    os.replace(tmp, path)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _dest(opt_dir: Path, rel: str) -> Path:
    return opt_dir if rel == "." else opt_dir / rel


def _p4_view(entry: branches.BranchEntry, variables: dict[str, str], client: str) -> list[str]:
    from devbox.adapters.vcs_render import render_value

    where = f"branch '{entry.name}'"
    if entry.view:
        lines = [render_value(v, variables, f"{where}: view") for v in entry.view]
    else:
        target = f"//{client}/..." if entry.path == "." else f"//{client}/{entry.path}/..."
        lines = [f"{variables['depot']}/... {target}"]
    for line in lines:
        parts = line.split()
        if (len(parts) != 2 or any(ord(c) < 32 for c in line)
                or not parts[0].lstrip("-+").startswith("//")
                or not parts[1].startswith(f"//{client}/")):
            raise UserError(f"{where}: bad view line {line!r}",
                            hint="each line is '//depot/path/... //{{ client }}/path/...'")
    return lines


def checkout(
    cfg: Config,
    container_name: str,
    branch: str,
    opt_dir: Path,
    *,
    update: bool = False,
    log: OpLog = NULL_LOG,
    progress: Progress | None = None,
    password: PasswordProvider | None = None,
    p4_factory: Callable[[], Any] | None = None,
    branch_map: Path | None = None,
    owner: tuple[int, int] | None = None,
) -> CheckoutResult:
    """Check ``branch`` out into ``opt_dir`` for ``container_name``, or update it.

    Without ``update``, an existing checkout of the same branch is returned as recorded (no
    network). A different branch already checked out is a UserError. ``owner`` (uid, gid)
    makes the container's user own the checkout (host uids = container uids). The result is
    written to ``<root>/<name>/checkout.json`` and the log.
    """
    validate_name(container_name)
    bmap = branches.load(branch_map) if branch_map else branches.for_config(cfg)
    resolved = bmap.resolve(branch)
    previous = read_state(cfg, container_name)
    if previous is not None and previous.branch != branch:
        raise UserError(f"{container_name} has branch '{previous.branch}' checked out "
                        f"at {previous.path}, not '{branch}'",
                        hint="make a new container for the other branch")
    if previous is not None and not update:
        log.write(f"checkout: {branch} already at {previous.vcs} {previous.revision} in "
                  f"{previous.path}")
        return previous
    log.write(f"checkout: {branch} ({resolved.vcs}) into {_dest(opt_dir, resolved.path)}"
              + (" (update)" if update else ""))
    if resolved.vcs == "git":
        result = _checkout_git(cfg, container_name, resolved, opt_dir, update=update, log=log,
                               progress=progress)
    else:
        result = _checkout_p4(cfg, container_name, resolved, opt_dir, update=update,
                              previous=previous, log=log, progress=progress, password=password,
                              factory=p4_factory)
    if owner is not None:
        _chown_tree(Path(result.path), owner, log)
    history: list[dict[str, str]] = list(previous.history) if previous else []
    if previous is not None and previous.revision != result.revision:
        history.append({"revision": previous.revision, "at": previous.checked_out_at})
    result = CheckoutResult(**{**result.to_dict(), "history": tuple(history[-HISTORY:])})
    _write_state(cfg, result)
    log.write(f"checkout: {branch} is at {result.vcs} {result.revision} in {result.path} "
              f"({result.files} files, {result.transferred} transferred)")
    return result


def _chown_tree(top: Path, owner: tuple[int, int], log: OpLog) -> None:
    """Give the checkout (and only it) to the container's user; never follows symlinks."""
    uid, gid = owner
    count = 0
    for dirpath, dirnames, filenames in os.walk(top):
        for entry in (dirpath, *(os.path.join(dirpath, n) for n in (*dirnames, *filenames))):
            st = os.lstat(entry)
            if (st.st_uid, st.st_gid) != (uid, gid):
                os.lchown(entry, uid, gid)
                count += 1
    log.write(f"checkout: {count} path(s) under {top} now owned by {uid}:{gid}")


def _checkout_git(cfg: Config, name: str, resolved: branches.Branch, opt_dir: Path, *,
                  update: bool, log: OpLog, progress: Progress | None) -> CheckoutResult:
    from devbox.adapters import git
    from devbox.adapters.vcs_render import render_value

    entry = resolved.entry
    variables = {"branch": resolved.name, "path": entry.path, "client": ""}
    where = f"branch '{entry.name}'"
    url = render_value(entry.url, variables, f"{where}: url")
    ref = render_value(entry.ref, variables, f"{where}: ref")
    sparse = [render_value(s, variables, f"{where}: sparse") for s in entry.sparse]
    dest = _dest(opt_dir, entry.path)
    done = git.checkout(url, ref, dest, depth=entry.depth, sparse=sparse, update=update,
                        log=log, progress=progress)
    return CheckoutResult(
        container=name, branch=resolved.name, vcs="git", source=url, ref=ref,
        revision=done.commit, path=str(dest), container_path=branches.container_path(entry.path),
        files=done.files, transferred=done.files if done.fetched else 0, checked_out_at=_now(),
    )


def _session(cfg: Config, log: OpLog, password: PasswordProvider | None,
             factory: Callable[[], Any] | None) -> Any:
    from devbox.adapters import p4

    return p4.P4Session(p4.P4Settings.from_config(cfg), factory=factory, log=log,
                        password=password)


def _checkout_p4(cfg: Config, name: str, resolved: branches.Branch, opt_dir: Path, *,
                 update: bool, previous: CheckoutResult | None, log: OpLog,
                 progress: Progress | None,
                 password: PasswordProvider | None,
                 factory: Callable[[], Any] | None) -> CheckoutResult:
    from devbox.adapters import p4
    from devbox.adapters.vcs_render import render_value

    entry = resolved.entry
    client = p4.workspace_name(cfg["p4.client_prefix"], name)
    variables = {"branch": resolved.name, "path": entry.path, "client": client}
    where = f"branch '{entry.name}'"
    depot = render_value(entry.depot, variables, f"{where}: depot").rstrip("/")
    if not depot.startswith("//") or any(c.isspace() or ord(c) < 32 for c in depot):
        raise UserError(f"{where}: bad depot path {depot!r}")
    variables["depot"] = depot
    ref = render_value(entry.ref, variables, f"{where}: ref")
    if ref:
        branches.validate_ref(ref, "Perforce changelist or label")
    view = _p4_view(entry, variables, client)
    dest = _dest(opt_dir, entry.path)
    opt_dir.mkdir(parents=True, exist_ok=True)
    with _session(cfg, log, password, factory) as session:
        session.head_change(f"{depot}/..." + (f"@{ref}" if ref else ""))  # depot path exists?
        created = session.save_workspace(
            client, opt_dir, view, alt_root="/opt",
            description=f"devbox: container {name}, branch {resolved.name}")
        try:
            if not created and previous is None:
                session.forget_have(client)  # the workspace outlived its files
            if ref and not ref.isdigit():
                revision = f"@{ref}"
            else:
                change = int(ref) if ref else session.head_change(f"//{client}/...",
                                                                  client=client)
                revision = f"@{change}"
            synced = session.sync(client, revision, progress=progress)
            files = session.have_count(client)
        except BaseException:
            if created:
                log.write(f"checkout: removing the new workspace {client} again")
                try:
                    session.delete_workspace(client, force=False)
                except Exception as err:  # noqa: BLE001 - report the first failure
                    log.write(f"checkout: could not remove workspace {client}: {err}")
            raise
    return CheckoutResult(
        container=name, branch=resolved.name, vcs="p4", source=depot, ref=ref,
        revision=str(synced.change), path=str(dest),
        container_path=branches.container_path(entry.path), files=files,
        transferred=synced.files, workspace=client, checked_out_at=_now(),
    )


def apply_changes(cfg: Config, name: str, changes: Sequence[int], *, log: OpLog = NULL_LOG,
                  password: PasswordProvider | None = None,
                  p4_factory: Callable[[], Any] | None = None) -> list[Any]:
    """Unshelve Perforce changelists into container ``name``'s workspace (for combos).

    Returns one :class:`devbox.adapters.p4.ApplyResult` per change, with the files that still
    need a manual resolve in ``conflicts``.
    """
    validate_name(name)
    state = read_state(cfg, name)
    if state is None or state.vcs != "p4":
        raise UserError(f"{name} has no Perforce checkout to apply changes to",
                        hint="check out a Perforce branch first: "
                             f"devbox dockeruser checkout {name}")
    with _session(cfg, log, password, p4_factory) as session:
        return list(session.apply_changes(state.workspace, list(changes)))


def remove_workspace(cfg: Config, name: str, force: bool = False, *, log: OpLog = NULL_LOG,
                     password: PasswordProvider | None = None,
                     p4_factory: Callable[[], Any] | None = None) -> bool:
    """Delete container ``name``'s Perforce workspace (never the files in /opt).

    Refuses when files are opened in it, unless ``force`` (then they are reverted with ``-k``).
    Returns False when the container has no Perforce checkout (git, or nothing recorded).
    """
    validate_name(name)
    state = read_state(cfg, name)
    if state is None or state.vcs != "p4" or not state.workspace:
        return False
    with _session(cfg, log, password, p4_factory) as session:
        return bool(session.delete_workspace(state.workspace, force=force))
