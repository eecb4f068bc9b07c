"""Check a branch out into a container's /opt (Perforce or git), update it, record it.

The branch resolves through the branch map (:mod:`devbox.branches`). The sources go to
``<opt_dir>/<path>`` on the host, which the container sees as ``/opt/<path>``. Docker labels
cannot change after a container is made, so the record of what is checked out is the state file
``<root>/<name>/checkout.json`` (plus the container's log); make-dev-container puts the first
revision into the labels as well.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from devbox import branches, jsonfile
from devbox.config import Config
from devbox.errors import UserError
from devbox.model.naming import validate_name
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
    owner_uid: int = -1  # who the checkout runs as and belongs to (-1: not recorded)
    owner_gid: int = -1
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
        data = jsonfile.read_json(path)
    except FileNotFoundError:
        return None
    except jsonfile.CorruptRecord as err:
        raise jsonfile.CorruptRecord(
            path, err.why, hint="remove the file and run 'devbox dockeruser checkout' again"
        ) from None
    try:
        return CheckoutResult.from_dict(data)
    except TypeError as err:
        raise jsonfile.CorruptRecord(
            path,
            f"not a checkout record: {err}",
            hint="remove the file and run 'devbox dockeruser checkout' again",
        ) from None


def _write_state(cfg: Config, result: CheckoutResult) -> None:
    jsonfile.write_json(state_path(cfg, result.container), result.to_dict())


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
        if (
            len(parts) != 2
            or any(ord(c) < 32 for c in line)
            or not parts[0].lstrip("-+").startswith("//")
            or not parts[1].startswith(f"//{client}/")
        ):
            raise UserError(
                f"{where}: bad view line {line!r}",
                hint="each line is '//depot/path/... //{{ client }}/path/...'",
            )
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
    network). A different branch already checked out is a UserError. The result is written
    to ``<root>/<name>/checkout.json`` and the log.

    The checkout is the container's tree, so host root never works in it: git runs as the
    owner, P4Python writes files with the owner's filesystem identity (see
    :mod:`devbox.adapters.host.privdrop`). The owner is, first, the one recorded by the first
    checkout (devbox's own record), else ``owner`` (make-dev-container: the image's dev
    user), else whoever owns ``opt_dir``. Root (uid or gid 0) is refused with a UserError:
    a tenant can ``chown root`` its /opt, and "run as the owner" must never mean root.
    """
    validate_name(container_name)
    bmap = branches.load(branch_map) if branch_map else branches.for_config(cfg)
    resolved = bmap.resolve(branch)
    previous = read_state(cfg, container_name)
    if previous is not None and previous.branch != branch:
        raise UserError(
            f"{container_name} has branch '{previous.branch}' checked out "
            f"at {previous.path}, not '{branch}'",
            hint="make a new container for the other branch",
        )
    if previous is not None and not update:
        log.write(
            f"checkout: {branch} already at {previous.vcs} {previous.revision} in {previous.path}"
        )
        return previous
    log.write(
        f"checkout: {branch} ({resolved.vcs}) into {_dest(opt_dir, resolved.path)}"
        + (" (update)" if update else "")
    )
    who = _owner(previous, owner, opt_dir, log)
    if resolved.vcs == "git":
        result = _checkout_git(
            cfg,
            container_name,
            resolved,
            opt_dir,
            update=update,
            log=log,
            progress=progress,
            owner=who,
        )
    else:
        result = _checkout_p4(
            cfg,
            container_name,
            resolved,
            opt_dir,
            update=update,
            previous=previous,
            log=log,
            progress=progress,
            password=password,
            factory=p4_factory,
            owner=who,
        )
    result = CheckoutResult(**{**result.to_dict(), "owner_uid": who[0], "owner_gid": who[1]})
    history: list[dict[str, str]] = list(previous.history) if previous else []
    if previous is not None and previous.revision != result.revision:
        history.append({"revision": previous.revision, "at": previous.checked_out_at})
    result = CheckoutResult(**{**result.to_dict(), "history": tuple(history[-HISTORY:])})
    _write_state(cfg, result)
    log.write(
        f"checkout: {branch} is at {result.vcs} {result.revision} in {result.path} "
        f"({result.files} files, {result.transferred} transferred)"
    )
    return result


def _owner(
    previous: CheckoutResult | None, owner: tuple[int, int] | None, opt_dir: Path, log: OpLog
) -> tuple[int, int]:
    """Who the checkout runs as (see :func:`checkout`); makes ``opt_dir`` if it is missing."""
    from devbox.adapters.host import privdrop

    if previous is not None and previous.owner_uid >= 0 and previous.owner_gid >= 0:
        who = (previous.owner_uid, previous.owner_gid)
    elif owner is not None:
        who = owner
    elif opt_dir.is_dir() and not opt_dir.is_symlink():
        st = opt_dir.lstat()
        who = (st.st_uid, st.st_gid)
    else:
        raise UserError(
            f"{opt_dir} does not exist and no owner was given",
            hint="make the container with 'devbox dockeruser make-dev-container'",
        )
    if os.geteuid() != 0:
        return who  # nothing to drop: git and P4 run as this user anyway
    privdrop.check_owner(*who, opt_dir)
    if not os.path.lexists(opt_dir):  # devbox makes it (in its own directory) for the owner
        opt_dir.mkdir(parents=True)
        os.lchown(opt_dir, *who)
        log.write(f"checkout: made {opt_dir} for {who[0]}:{who[1]}")
    return who


def _checkout_git(
    cfg: Config,
    name: str,
    resolved: branches.Branch,
    opt_dir: Path,
    *,
    update: bool,
    log: OpLog,
    progress: Progress | None,
    owner: tuple[int, int],
) -> CheckoutResult:
    from devbox.adapters import git
    from devbox.adapters.vcs_render import render_value

    entry = resolved.entry
    variables = {"branch": resolved.name, "path": entry.path, "client": ""}
    where = f"branch '{entry.name}'"
    url = render_value(entry.url, variables, f"{where}: url")
    ref = render_value(entry.ref, variables, f"{where}: ref")
    sparse = [render_value(s, variables, f"{where}: sparse") for s in entry.sparse]
    dest = _dest(opt_dir, entry.path)
    cache = Layout(cfg.root).container_dir(name) / "git-cache.git"
    done = git.checkout(
        url,
        ref,
        dest,
        cache=cache,
        top=opt_dir,
        owner=owner,
        depth=entry.depth,
        sparse=sparse,
        update=update,
        log=log,
        progress=progress,
    )
    return CheckoutResult(
        container=name,
        branch=resolved.name,
        vcs="git",
        source=url,
        ref=ref,
        revision=done.commit,
        path=str(dest),
        container_path=branches.container_path(entry.path),
        files=done.files,
        transferred=done.files if done.fetched else 0,
        checked_out_at=_now(),
    )


def _session(
    cfg: Config, log: OpLog, password: PasswordProvider | None, factory: Callable[[], Any] | None
) -> Any:
    from devbox.adapters import p4

    return p4.P4Session(p4.P4Settings.from_config(cfg), factory=factory, log=log, password=password)


def _checkout_p4(
    cfg: Config,
    name: str,
    resolved: branches.Branch,
    opt_dir: Path,
    *,
    update: bool,
    previous: CheckoutResult | None,
    log: OpLog,
    progress: Progress | None,
    password: PasswordProvider | None,
    factory: Callable[[], Any] | None,
    owner: tuple[int, int],
) -> CheckoutResult:
    from devbox.adapters import p4
    from devbox.adapters.host import privdrop
    from devbox.adapters.vcs_render import render_value

    entry = resolved.entry
    client = p4.workspace_name(cfg.text("p4.client_prefix"), name)
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
    with _session(cfg, log, password, factory) as session:
        session.head_change(f"{depot}/..." + (f"@{ref}" if ref else ""))  # depot path exists?
        created = session.save_workspace(
            client,
            opt_dir,
            view,
            alt_root="/opt",
            description=f"devbox: container {name}, branch {resolved.name}",
        )
        try:
            if not created and previous is None:
                session.forget_have(client)  # the workspace outlived its files
            if ref and not ref.isdigit():
                revision = f"@{ref}"
            else:
                change = int(ref) if ref else session.head_change(f"//{client}/...", client=client)
                revision = f"@{change}"
            # P4Python writes the files in this process: as the owner, so a link the tenant
            # planted in its tree is followed (if at all) with the owner's rights, not root's
            with privdrop.as_fs_user(*owner):
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
        container=name,
        branch=resolved.name,
        vcs="p4",
        source=depot,
        ref=ref,
        revision=str(synced.change),
        path=str(dest),
        container_path=branches.container_path(entry.path),
        files=files,
        transferred=synced.files,
        workspace=client,
        checked_out_at=_now(),
    )


def apply_changes(
    cfg: Config,
    name: str,
    changes: Sequence[int],
    *,
    log: OpLog = NULL_LOG,
    password: PasswordProvider | None = None,
    p4_factory: Callable[[], Any] | None = None,
) -> list[Any]:
    """Unshelve Perforce changelists into container ``name``'s workspace (for combos).

    Returns one :class:`devbox.adapters.p4.ApplyResult` per change, with the files that still
    need a manual resolve in ``conflicts``.
    """
    validate_name(name)
    state = read_state(cfg, name)
    if state is None or state.vcs != "p4":
        raise UserError(
            f"{name} has no Perforce checkout to apply changes to",
            hint=f"check out a Perforce branch first: devbox dockeruser checkout {name}",
        )
    from devbox.adapters.host import privdrop

    uid, gid = state.owner_uid, state.owner_gid
    if uid < 0 or gid < 0:  # a record from before owners were recorded
        st = Layout(cfg.root).opt_dir(name).lstat()
        uid, gid = st.st_uid, st.st_gid
    with _session(cfg, log, password, p4_factory) as session:
        with privdrop.as_fs_user(uid, gid):  # unshelve/resolve write files in the tree
            return list(session.apply_changes(state.workspace, list(changes)))


def remove_workspace(
    cfg: Config,
    name: str,
    force: bool = False,
    *,
    log: OpLog = NULL_LOG,
    password: PasswordProvider | None = None,
    p4_factory: Callable[[], Any] | None = None,
) -> bool:
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
