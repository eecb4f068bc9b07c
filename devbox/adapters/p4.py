"""Perforce, through P4Python. Thin: mirrors P4Python and translates ``P4Exception``.

One client workspace per container, named ``<prefix>-<host>-<container>``. Its Root is the
container's host /opt directory and its AltRoots hold ``/opt``, so the same workspace works on
the host and inside the container. Sync reports files and bytes from P4Python's output handler.

The P4 object comes from a factory: ``factory=``, else the one the ``p4.factory`` setting names
(``module:callable``: a site's P4 wrapper, or the tests' fake that keeps P4Python's API shape),
else ``P4.P4``. Passwords go to the server through ``run_login`` (the P4 API's input,
never argv), are registered with :func:`devbox.oplog.register_secret` before anything could log
them, and the ticket lands in the user's P4TICKETS file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devbox.adapters.p4_errors import classify as _classify
from devbox.adapters.p4_errors import first_line
from devbox.adapters.p4_settings import P4Settings, factory_from, workspace_name
from devbox.errors import NotReadyError, UserError
from devbox.model.units import human_bytes
from devbox.oplog import NULL_LOG, OpLog, redact, register_secret

__all__ = [  # with the settings and workspace names of p4_settings, which importers use here
    "NEUTRAL_CWD",
    "ApplyResult",
    "P4Factory",
    "P4Session",
    "P4Settings",
    "PasswordProvider",
    "Progress",
    "SyncResult",
    "default_factory",
    "factory_from",
    "workspace_name",
]

Progress = Callable[[float, float | None, str], None]
PasswordProvider = Callable[[], str]
P4Factory = Callable[[], Any]

NEUTRAL_CWD = "/"  # under no workspace root, and no tenant can write a P4CONFIG file there


def _p4_module() -> Any:
    try:
        import P4
    except ImportError as err:
        raise NotReadyError(
            "P4Python is not installed", hint="pip install p4python (it is a devbox dependency)"
        ) from err
    return P4


def default_factory() -> Any:
    """A real ``P4.P4()``. Tests replace this (or pass ``factory=``) with a fake.

    P4CONFIG is dropped from the environment first: with it, the P4 API reads settings
    (P4PORT, P4TICKETS, ...) from files found from the current directory upwards, which may
    be a tree a container controls. Settings come from devbox's config or P4PORT/P4USER.
    """
    os.environ.pop("P4CONFIG", None)
    return _p4_module().P4()


@dataclass(frozen=True)
class SyncResult:
    workspace: str
    change: int  # the changelist the workspace is synced to
    revision: str  # what was synced: "@<change>" or "@<label>"
    files: int  # files updated/added/deleted by this sync
    bytes: int
    total_files: int  # what the server announced (0 when it did not)


@dataclass(frozen=True)
class ApplyResult:
    change: int
    files: int  # files opened by the unshelve
    conflicts: tuple[str, ...] = field(default_factory=tuple)  # files still needing resolve


class _SyncHandler:
    """Builds a P4.OutputHandler subclass instance that counts files and bytes."""

    @staticmethod
    def make(p4mod: Any, progress: Progress | None, log: OpLog) -> Any:
        base = p4mod.OutputHandler

        class Handler(base):  # type: ignore[misc, valid-type]
            def __init__(self) -> None:
                base.__init__(self)
                self.files = 0
                self.bytes = 0
                self.total_files = 0
                self.total_bytes = 0

            def outputStat(self, stat: dict[str, Any]) -> int:
                if "totalFileCount" in stat:
                    self.total_files = int(stat.get("totalFileCount") or 0)
                    self.total_bytes = int(stat.get("totalFileSize") or 0)
                if "depotFile" in stat:
                    self.files += 1
                    self.bytes += int(stat.get("fileSize") or 0)
                    if self.files <= 200 or self.files % 1000 == 0:
                        log.write(
                            f"  {stat.get('action', '?')} {stat.get('depotFile')}"
                            f"#{stat.get('rev', '?')}"
                        )
                    if progress is not None:
                        progress(
                            float(self.files),
                            float(self.total_files) or None,
                            f"{self.files} files, {human_bytes(self.bytes)}",
                        )
                return int(base.HANDLED)

            def outputMessage(self, message: Any) -> int:
                return int(base.REPORT)

        return Handler()


class P4Session:
    """A connected, logged-in P4 object and the workspace operations devbox needs."""

    def __init__(
        self,
        settings: P4Settings,
        *,
        factory: P4Factory | None = None,
        log: OpLog = NULL_LOG,
        password: PasswordProvider | None = None,
    ) -> None:
        self.settings = settings
        self.log = log
        self._password = password
        self._factory = factory or factory_from(settings.factory) or default_factory
        self._mod = _p4_module()
        self.p4: Any = None

    # -- connection ---------------------------------------------------------------------------

    @contextmanager
    def _translate(self, what: str) -> Iterator[None]:
        try:
            yield
        except self._mod.P4Exception as err:
            errors = list(getattr(err, "errors", None) or (self.p4.errors if self.p4 else []))
            warnings = list(getattr(err, "warnings", None) or [])
            text = redact(first_line(errors) or first_line(warnings) or str(err))
            self.log.write(f"p4: {what} failed: {text}")
            raise _classify(text, what, self.settings.port) from None

    def connect(self) -> P4Session:
        p4 = self._factory()
        s = self.settings
        if s.port:
            p4.port = s.port
        if s.user:
            p4.user = s.user
        if s.charset:
            p4.charset = s.charset
        if s.ticket_file:
            p4.ticket_file = s.ticket_file
        p4.prog = "devbox"
        p4.exception_level = 2
        p4.cwd = NEUTRAL_CWD
        self.p4 = p4
        self.log.write(f"p4: connecting to {p4.port or '(P4PORT)'} as {p4.user or '(P4USER)'}")
        with self._translate("connect"):
            p4.connect()
        try:
            self.login()
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        if self.p4 is not None and self.p4.connected():
            self.p4.disconnect()

    def __enter__(self) -> P4Session:
        return self.connect()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def login(self) -> None:
        """Use a valid ticket if there is one; otherwise ask for the password and log in."""
        p4 = self.p4
        try:
            p4.run_login("-s")
            self.log.write(f"p4: using the ticket of {p4.user} from {p4.ticket_file}")
            return
        except self._mod.P4Exception as err:
            text = first_line(list(getattr(err, "errors", None) or [])) or str(err)
            if "not necessary" in text:  # no password set for this user
                self.log.write(f"p4: {p4.user} needs no login")
                return
        if self._password is None:
            raise UserError(
                f"not logged in to Perforce as {p4.user} on {p4.port}",
                hint="run 'p4 login' first, or give the password "
                "(interactively or with --password-stdin)",
            )
        secret = self._password()
        register_secret(secret)
        if not secret:
            raise UserError(
                "empty Perforce password", hint=f"give the password of {p4.user} on {p4.port}"
            )
        p4.password = secret
        with self._translate("login"):
            p4.run_login()
        self.log.write(f"p4: logged in as {p4.user}; ticket stored in {p4.ticket_file}")

    # -- workspaces ---------------------------------------------------------------------------

    def _use_client(self, name: str) -> Any:
        """Make ``name`` the current workspace, working from a neutral directory (``/``).

        The workspace has AltRoots /opt (the container's view). Perforce picks the root that
        holds the current directory, so a devbox run from somewhere under the host's /opt
        would otherwise write into the host's /opt; outside every root it uses Root. The
        current directory is never the container's tree either: the P4 API looks for P4CONFIG
        files from there upwards, and a tenant could plant one (P4PORT of its own server:
        our ticket or password would go there).
        """
        p4 = self.p4
        p4.client = name
        p4.cwd = NEUTRAL_CWD
        return p4

    def head_change(self, path: str, client: str | None = None) -> int:
        """Newest submitted changelist under ``path`` (``//depot/x/...@label`` works too).

        A ``//<client>/...`` path needs ``client``: the workspace whose view it goes through.
        """
        if client is not None:
            self._use_client(client)
        with self._translate(f"changes {path}"):
            rows = self.p4.run_changes("-m1", "-s", "submitted", path)
        if not rows:
            raise UserError(
                f"unknown depot path: no submitted changes under {path}",
                hint="check depot/ref of this branch in roles/dockeruser/branches.toml",
            )
        return int(rows[0]["change"])

    def workspace_exists(self, name: str) -> bool:
        with self._translate(f"clients -e {name}"):
            rows = self.p4.run_clients("-e", name)
        return any(r.get("client") == name for r in rows)

    def save_workspace(
        self,
        name: str,
        root: Path,
        view: Sequence[str],
        *,
        alt_root: str = "/opt",
        description: str = "",
    ) -> bool:
        """Create or update the workspace; returns True when it was created."""
        existed = self.workspace_exists(name)
        with self._translate(f"client {name}"):
            spec = self.p4.fetch_client(name)
            owner = spec.get("Owner", "")
            if existed and owner and self.p4.user and owner != self.p4.user:
                raise UserError(
                    f"Perforce workspace {name} belongs to {owner}",
                    hint="remove it (p4 client -d) or use another container name",
                )
            spec["Root"] = str(root)
            spec["AltRoots"] = [alt_root]
            spec["Host"] = ""
            spec["Options"] = self.settings.options
            spec["Description"] = description or f"devbox workspace {name}"
            spec["View"] = list(view)
            self.p4.save_client(spec)
        self.log.write(
            f"p4: {'updated' if existed else 'created'} workspace {name} "
            f"(root {root}, alt root {alt_root}, {len(view)} view line(s))"
        )
        return not existed

    def sync(self, name: str, revision: str, *, progress: Progress | None = None) -> SyncResult:
        """Sync ``//<name>/...<revision>`` (``@123`` or ``@label``) with progress.

        The result's ``change`` is the changelist synced to (for a label: its newest change).
        """
        p4 = self._use_client(name)
        handler = _SyncHandler.make(self._mod, progress, self.log)
        spec = f"//{name}/...{revision}"
        self.log.write(f"p4: sync {spec}")
        with (
            self._translate(f"sync {spec}"),
            p4.at_exception_level(p4.RAISE_ERRORS),
            p4.using_handler(handler),
        ):
            p4.run_sync(spec)
        for warning in p4.warnings:
            self.log.write(f"p4: {redact(str(warning))}")
        number = revision[1:] if revision.startswith("@") else ""
        change = int(number) if number.isdigit() else self.head_change(spec)
        self.log.write(
            f"p4: synced {name} to change {change}: {handler.files} file(s), "
            f"{human_bytes(handler.bytes)}"
        )
        return SyncResult(
            workspace=name,
            change=change,
            revision=revision,
            files=handler.files,
            bytes=handler.bytes,
            total_files=handler.total_files,
        )

    def forget_have(self, name: str) -> None:
        """Empty the workspace's have list without touching any file (``sync -k ...#none``).

        For a workspace that outlived its files (a remade container): the next sync then
        writes every file again instead of believing they are there.
        """
        p4 = self._use_client(name)
        with self._translate(f"sync -k {name}"), p4.at_exception_level(p4.RAISE_ERRORS):
            p4.run_sync("-k", f"//{name}/...#none")
        self.log.write(f"p4: cleared the have list of {name} (files untouched)")

    def have_count(self, name: str) -> int:
        p4 = self._use_client(name)
        with self._translate(f"have {name}"), p4.at_exception_level(p4.RAISE_ERRORS):
            return len(p4.run_have(f"//{name}/..."))

    def opened(self, name: str) -> list[str]:
        p4 = self._use_client(name)
        with self._translate(f"opened {name}"), p4.at_exception_level(p4.RAISE_ERRORS):
            rows = p4.run_opened(f"//{name}/...")
        return [str(r.get("depotFile") or r.get("clientFile")) for r in rows]

    def apply_changes(self, name: str, changes: Sequence[int]) -> list[ApplyResult]:
        """Unshelve each shelved changelist into the workspace, auto-merge, report conflicts."""
        p4 = self._use_client(name)
        results: list[ApplyResult] = []
        for change in changes:
            with self._translate(f"describe {change}"):
                desc = p4.run_describe("-s", "-S", str(change))
            info = desc[0] if desc else {}
            status = info.get("status", "")
            if status == "submitted":
                raise UserError(
                    f"change {change} is already submitted; only shelved changes can be applied",
                    hint="sync a newer revision instead",
                )
            with self._translate(f"unshelve {change}"), p4.at_exception_level(p4.RAISE_ERRORS):
                rows = p4.run_unshelve("-s", str(change))
            opened = [r for r in rows if isinstance(r, dict) and "depotFile" in r]
            with self._translate(f"resolve {change}"), p4.at_exception_level(p4.RAISE_ERRORS):
                p4.run_resolve("-am")
                pending = p4.run_resolve("-n")
            conflicts = tuple(
                sorted(
                    {
                        str(r.get("clientFile") or r.get("fromFile"))
                        for r in pending
                        if isinstance(r, dict)
                    }
                )
            )
            self.log.write(
                f"p4: unshelved {change}: {len(opened)} file(s), {len(conflicts)} conflict(s)"
            )
            results.append(ApplyResult(change, len(opened), conflicts))
        return results

    def delete_workspace(self, name: str, *, force: bool = False) -> bool:
        """Delete the workspace (never its files). Refuses with opened files unless ``force``.

        With ``force``, opened files are reverted with ``-k`` (the files in /opt stay as they
        are) and empty pending changelists are deleted; shelved work is never deleted.
        Returns False when there was no such workspace.
        """
        if not self.workspace_exists(name):
            return False
        p4 = self.p4
        opened = self.opened(name)
        if opened and not force:
            raise UserError(
                f"Perforce workspace {name} has {len(opened)} opened file(s), e.g. {opened[0]}",
                hint="submit, shelve or revert them, or use --force (reverts with "
                "-k: the files in /opt are kept)",
            )
        self._use_client(name)
        with p4.at_exception_level(p4.RAISE_ERRORS):
            if opened:
                with self._translate(f"revert -k {name}"):
                    p4.run_revert("-k", f"//{name}/...")
                self.log.write(f"p4: reverted {len(opened)} opened file(s) in {name} (-k)")
            with self._translate(f"changes {name}"):
                pending = p4.run_changes("-s", "pending", "-c", name)
            for row in pending:
                number = str(row.get("change"))
                with self._translate(f"describe {number}"):
                    desc = p4.run_describe("-s", "-S", number)
                info = desc[0] if desc else {}
                if "shelved" in info or info.get("depotFile"):
                    raise UserError(
                        f"Perforce workspace {name} has shelved change {number}",
                        hint=f"delete it (p4 shelve -d -c {number}) or move it to "
                        "another workspace first",
                    )
                with self._translate(f"change -d {number}"):  # empty: nothing is lost
                    p4.run_change("-d", number)
            with self._translate(f"client -d {name}"):
                p4.delete_client(name)
        self.log.write(f"p4: deleted workspace {name}")
        return True
