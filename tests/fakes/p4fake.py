"""A small in-memory Perforce server behind P4Python's exact API shape (no p4d can run here).

``FakeP4`` mirrors ``P4.P4``: the same attributes (port, user, client, password, ticket_file,
exception_level, tagged, handler, input, errors, warnings, messages), ``connect()``,
``connected()``, ``disconnect()``, ``run(cmd, *args, **attrs)`` and the dynamic ``run_*``,
``fetch_*``, ``save_*``, ``delete_*`` methods, the context managers ``at_exception_level``,
``using_handler``, ``while_tagged``. Results are tagged dicts with string values (specs are real
``P4.Spec`` objects); failures raise the real ``P4.P4Exception`` built the way P4Python builds it,
honouring ``exception_level``; an output handler gets ``outputStat`` for each tagged record and
``outputMessage`` for each message, and HANDLED records are left out of the result.

Files are really written to (and removed from) the workspace root, through the client view
(translated with P4Python's own ``P4.Map``). Tickets are written to ``ticket_file`` in the P4
tickets format. Everything a test wants to look at is on :class:`FakeServer`.

In another process (devbox's CLI reaches the host service; its checkouts run in the service's
job children): the test seeds a :class:`FakeServer`, saves it with :func:`write_state`, and
runs the CLI with ``DEVBOX_P4_FACTORY=tests.fakes.p4fake:from_state`` and
``DEVBOX_TEST_P4_STATE=<that file>``; each call of :func:`from_state` (the adapter's P4 factory)
serves that file, every command under an flock: state read, command run, state written back
when it changed (several jobs may run at once). :func:`read_state` shows the test what they
did. With ``scan_processes`` set, each password login scans every process's argv and
environment for the password (:func:`processes_holding`) and records what it found.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import secrets
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import P4

from devbox.waits import poll

CLIENT_FIELDS = (
    "Client",
    "Update",
    "Access",
    "Owner",
    "Host",
    "Description",
    "Root",
    "AltRoots",
    "Options",
    "SubmitOptions",
    "LineEnd",
    "View",
)


@dataclass
class Change:
    number: int
    status: str  # "submitted" or "pending"
    user: str
    client: str
    desc: str
    files: dict[str, int] = field(default_factory=dict)  # submitted: depotFile -> rev
    shelved: dict[str, bytes] = field(default_factory=dict)  # pending: depotFile -> content


@dataclass
class Opened:
    action: str
    change: str  # "default" or a number
    rev: int


class FakeServer:
    """Depot, changes, clients, have lists, opened files, users and tickets."""

    def __init__(self, port: str = "fake.example.com:1666", depots: tuple[str, ...] = ("depot",)):
        self.port = port
        self.depots = set(depots)
        self.users: dict[str, str | None] = {}  # user -> password (None: no password)
        self.tickets: dict[str, str] = {}  # ticket -> user
        self.files: dict[str, list[tuple[int, bytes | None]]] = {}  # depotFile -> [(change, data)]
        self.changes: dict[int, Change] = {}
        self.labels: dict[str, int] = {}
        self.clients: dict[str, dict[str, Any]] = {}
        self.have: dict[str, dict[str, int]] = {}
        self.opened: dict[str, dict[str, Opened]] = {}
        self.resolves: dict[str, dict[str, tuple[bytes, int]]] = {}  # client -> file -> theirs
        self.calls: list[tuple[str, tuple[str, ...]]] = []
        self.logins: list[str] = []  # users who logged in with a password
        self.on_login: Callable[[], None] | None = None  # called while a login runs
        self.scan_processes = False  # at each password login: who holds the password?
        self.login_scans = 0  # how many such scans ran
        self.secret_sightings: list[str] = []  # "pid N (comm) cmdline|environ" they found
        self._next = 1

    def transaction(self) -> AbstractContextManager[object]:
        """Around each command: nothing in memory (a state file's server reloads and saves)."""
        return nullcontext()

    # -- test helpers -------------------------------------------------------------------------

    def add_user(self, user: str, password: str | None = None) -> None:
        self.users[user] = password

    def submit(
        self, files: dict[str, bytes | None], user: str = "bob", desc: str = "change"
    ) -> int:
        number = self._next_change()
        change = Change(number, "submitted", user, "fake-ws", desc)
        for path, data in files.items():
            revs = self.files.setdefault(path, [])
            revs.append((number, data))
            change.files[path] = len(revs)
        self.changes[number] = change
        return number

    def shelve(self, files: dict[str, bytes], user: str = "bob", desc: str = "shelf") -> int:
        number = self._next_change()
        self.changes[number] = Change(
            number, "pending", user, "fake-shelf", desc, shelved=dict(files)
        )
        return number

    def _next_change(self) -> int:
        number = self._next
        self._next += 1
        return number

    def content(self, path: str, rev: int) -> bytes | None:
        return self.files[path][rev - 1][1]

    def rev_at(self, path: str, change: int) -> int:
        """Newest revision of ``path`` at ``change`` (0: none)."""
        found = 0
        for index, (number, _data) in enumerate(self.files.get(path, []), start=1):
            if number <= change:
                found = index
        return found


class _Message:
    """Stands in for P4API.P4Message as handed to OutputHandler.outputMessage."""

    def __init__(self, severity: int, text: str) -> None:
        self.severity = severity
        self.generic = 0
        self.msgid = 0
        self.dict: dict[str, str] = {}
        self._text = text

    def __str__(self) -> str:
        return self._text


class _Failure(Exception):
    def __init__(self, *errors: str) -> None:
        super().__init__(errors[0])
        self.errors = list(errors)


class FakeP4:
    """P4.P4, as far as devbox uses it, against a :class:`FakeServer`."""

    RAISE_ALL = 2
    RAISE_ERROR = 1
    RAISE_ERRORS = 1
    RAISE_NONE = 0

    def __init__(self, server: FakeServer) -> None:
        self._server = server
        self.port = os.environ.get("P4PORT", "perforce:1666")
        self.user = os.environ.get("P4USER", "root")
        self.client = os.environ.get("P4CLIENT", "")
        self.password = ""
        self.charset = ""
        self.ticket_file = os.environ.get("P4TICKETS", str(Path.home() / ".p4tickets"))
        self.prog = "unnamed p4-python script"
        self.cwd = os.getcwd()
        self.exception_level = 2
        self.tagged = 1
        self.handler: Any = None
        self.input: Any = None
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self.messages: list[_Message] = []
        self._connected = False

    # -- connection ---------------------------------------------------------------------------

    def connect(self) -> FakeP4:
        self.errors, self.warnings = [], []
        if self.port != self._server.port:
            self.errors = [
                "Connect to server failed; check $P4PORT.\n"
                f"TCP connect to {self.port} failed.\nconnect: Connection refused"
            ]
            raise P4.P4Exception(
                ("[P4.connect()] Connect to server failed; check $P4PORT.", self.errors, [])
            )
        self._connected = True
        return self

    def connected(self) -> bool:
        return self._connected

    def disconnect(self) -> None:
        self._connected = False

    def __enter__(self) -> FakeP4:
        return self

    def __exit__(self, *exc: object) -> Literal[False]:
        if self.connected():
            self.disconnect()
        return False

    # -- P4Python's dynamic methods -------------------------------------------------------------

    def __getattr__(self, name: str) -> Any:
        if name.startswith("run_"):
            cmd = name[len("run_") :]
            return lambda *args, **kw: self.run(cmd, *args, **kw)
        if name.startswith("delete_"):
            cmd = name[len("delete_") :]
            return lambda *args, **kw: self.run(cmd, "-d", *args, **kw)
        if name.startswith("fetch_"):
            cmd = name[len("fetch_") :]

            def fetch(*args: Any, **kw: Any) -> Any:
                result = self.run(cmd, "-o", *args, **kw)
                for r in result:
                    if isinstance(r, dict):
                        return r
                return result[0]

            return fetch
        if name.startswith("save_"):
            cmd = name[len("save_") :]

            def save(*args: Any, **kw: Any) -> Any:
                self.input = args[0]
                return self.run(cmd, "-i", args[1:], **kw)

            return save
        raise AttributeError(name)

    def run_login(self, *args: Any, **kw: Any) -> list[Any]:
        if "password" in kw:
            self.input = kw.pop("password")
        else:
            self.input = self.password
        return self.run("login", *args, **kw)

    @contextmanager
    def at_exception_level(self, level: int) -> Iterator[None]:
        old = self.exception_level
        self.exception_level = level
        try:
            yield
        finally:
            self.exception_level = old

    @contextmanager
    def using_handler(self, handler: Any) -> Iterator[None]:
        old = self.handler
        self.handler = handler
        try:
            yield
        finally:
            self.handler = old

    @contextmanager
    def while_tagged(self, tagged: int) -> Iterator[None]:
        old = self.tagged
        self.tagged = tagged
        try:
            yield
        finally:
            self.tagged = old

    # -- run ------------------------------------------------------------------------------------

    def run(self, *args: Any, **kw: Any) -> list[Any]:
        context = {k: getattr(self, k) for k in kw}
        for k, v in kw.items():
            setattr(self, k, v)
        try:
            return self._run(_flatten(args))
        finally:
            for k, v in context.items():
                setattr(self, k, v)

    def _run(self, argv: tuple[str, ...]) -> list[Any]:
        if not self._connected:
            raise P4.P4Exception("P4.run() - not connected.")
        with self._server.transaction():
            return self._run_command(argv)

    def _run_command(self, argv: tuple[str, ...]) -> list[Any]:
        cmd, args = argv[0], tuple(str(a) for a in argv[1:])
        self._server.calls.append((cmd, args))
        self.errors, self.warnings, self.messages = [], [], []
        out: list[Any] = []
        try:
            if cmd != "login":
                self._require_auth()
            method = getattr(self, f"_cmd_{cmd}", None)
            if method is None:
                raise _Failure(f"Unknown command.  Try 'p4 help' for info. ({cmd})")
            records, warnings = method(list(args))
        except _Failure as failure:
            self.errors = failure.errors
            records, warnings = [], []
        self.warnings = list(warnings)
        for record in records:
            handled = False
            if self.handler is not None and isinstance(record, dict):
                handled = bool(self.handler.outputStat(record) & P4.OutputHandler.HANDLED)
            if not handled:
                out.append(record)
        for severity, texts in ((3, self.errors), (2, self.warnings)):
            for text in texts:
                self.messages.append(_Message(severity, text))
                if self.handler is not None:
                    self.handler.outputMessage(_Message(severity, text))
        if (self.errors and self.exception_level >= 1) or (
            self.warnings and self.exception_level >= 2
        ):
            lines = [f"[Error]: {e!r}" for e in self.errors]
            lines += [f"[Warning]: {w!r}" for w in self.warnings]
            raise P4.P4Exception(
                (
                    f'[P4#run] Errors during command execution( "p4 {cmd}" )'
                    "\n\n    " + "\n    ".join(lines),
                    self.errors,
                    self.warnings,
                )
            )
        return out

    # -- authentication -------------------------------------------------------------------------

    def _ticket_key(self) -> str:
        return f"{self.port}={self.user}"

    def _stored_ticket(self) -> str | None:
        try:
            lines = Path(self.ticket_file).read_text().splitlines()
        except OSError:
            return None
        for line in lines:
            left, _, ticket = line.rpartition(":")
            if left == self._ticket_key():
                return ticket
        return None

    def _authenticated(self) -> bool:
        server = self._server
        if self.user not in server.users:
            return False
        if server.users[self.user] is None:
            return True
        ticket = self._stored_ticket()
        return ticket is not None and server.tickets.get(ticket) == self.user

    def _require_auth(self) -> None:
        if not self._authenticated():
            raise _Failure("Perforce password (P4PASSWD) invalid or unset.")

    def _cmd_login(self, args: list[str]) -> tuple[list[Any], list[str]]:
        server = self._server
        if self.user in server.users and server.users[self.user] is None:
            raise _Failure("'login' not necessary, no password set for this user.")
        if "-s" in args:
            self._require_auth()
            return [{"User": self.user, "TicketExpiration": "43200"}], []
        given = self.input
        self.input = None
        if server.on_login is not None:
            server.on_login()
        if server.scan_processes:
            server.login_scans += 1
            wanted = {str(given or ""), str(server.users.get(self.user) or "")} - {""}
            server.secret_sightings.extend(processes_holding(w.encode() for w in wanted))
        if self.user not in server.users or given != server.users[self.user]:
            raise _Failure("Password invalid.")
        ticket = secrets.token_hex(16).upper()
        server.tickets[ticket] = self.user
        server.logins.append(self.user)
        path = Path(self.ticket_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        kept = []
        if path.exists():
            kept = [
                ln
                for ln in path.read_text().splitlines()
                if not ln.startswith(self._ticket_key() + ":")
            ]
        path.write_text("\n".join([*kept, f"{self._ticket_key()}:{ticket}"]) + "\n")
        path.chmod(0o600)
        return [{"User": self.user, "TicketExpiration": "43200"}], []

    # -- helpers -------------------------------------------------------------------------------

    def _spec(self, name: str) -> dict[str, Any]:
        spec = self._server.clients.get(name)
        if spec is None:
            raise _Failure(f"Client '{name}' unknown - use 'client' command to create it.")
        return spec

    def _view(self, name: str) -> P4.Map:
        return P4.Map(list(self._spec(name)["View"]))

    def _root(self, name: str) -> Path:
        """Like Perforce: Root if the current directory is under it, else the first AltRoot
        that holds the current directory, else Root."""
        spec = self._spec(name)
        cwd = Path(self.cwd)
        for candidate in [spec["Root"], *spec.get("AltRoots", [])]:
            if cwd == Path(candidate) or Path(candidate) in cwd.parents:
                return Path(candidate)
        return Path(spec["Root"])

    def _local(self, name: str, client_path: str) -> Path:
        rel = client_path[len(f"//{name}/") :]
        return self._root(name) / rel

    def _split_rev(self, spec: str) -> tuple[str, str]:
        for mark in ("@", "#"):
            if mark in spec:
                path, _, rev = spec.partition(mark)
                return path, mark + rev
        return spec, ""

    def _change_for(self, rev: str) -> int:
        """The changelist a revision spec stands for (#head/none: newest)."""
        newest = max(
            (c.number for c in self._server.changes.values() if c.status == "submitted"), default=0
        )
        if rev in ("", "#head"):
            return newest
        if rev.startswith("@") and rev[1:].isdigit():
            return int(rev[1:])
        if rev.startswith("@") and rev[1:] in self._server.labels:
            return self._server.labels[rev[1:]]
        raise _Failure(f"Invalid changelist/client/label/date '{rev}'.")

    def _depot_files(self, path: str) -> list[str]:
        """Depot files under a depot path (``//depot/x/...``) or client path (``//ws/...``)."""
        if not path.startswith("//"):
            raise _Failure(f"{path} - must refer to client '{self.client}'.")
        prefix = path[:-3] if path.endswith("...") else path
        first = path[2:].split("/", 1)[0]
        if first in self._server.depots:
            return sorted(f for f in self._server.files if f.startswith(prefix))
        if first == self.client:
            view = self._view(self.client)
            mapped = [f for f in self._server.files if view.translate(f)]
            return sorted(f for f in mapped if str(view.translate(f)).startswith(prefix))
        if first in self._server.clients:
            raise _Failure(f"{path} - must refer to client '{self.client}'.")
        raise _Failure(f"{path} - must refer to client '{self.client}'.")

    # -- commands ------------------------------------------------------------------------------

    def _cmd_info(self, args: list[str]) -> tuple[list[Any], list[str]]:
        return [
            {
                "userName": self.user,
                "clientName": self.client or "*unknown*",
                "serverAddress": self._server.port,
            }
        ], []

    def _cmd_changes(self, args: list[str]) -> tuple[list[Any], list[str]]:
        limit, status, client, paths = 0, "", "", []
        i = 0
        while i < len(args):
            if args[i].startswith("-m") and len(args[i]) > 2:
                limit, i = int(args[i][2:]), i + 1
            elif args[i] == "-m":
                limit, i = int(args[i + 1]), i + 2
            elif args[i] == "-s":
                status, i = args[i + 1], i + 2
            elif args[i] == "-c":
                client, i = args[i + 1], i + 2
            else:
                paths.append(args[i])
                i += 1
        changes = sorted(self._server.changes.values(), key=lambda c: -c.number)
        if status:
            changes = [c for c in changes if c.status == status]
        if client:
            changes = [c for c in changes if c.client == client]
        for spec in paths:
            path, rev = self._split_rev(spec)
            files = set(self._depot_files(path))
            if rev == "#have":
                have = self._server.have.get(self.client, {})
                top = max(
                    (self._server.files[f][r - 1][0] for f, r in have.items() if f in files),
                    default=0,
                )
            else:
                top = self._change_for(rev)
            changes = [c for c in changes if c.number <= top and set(c.files) & files]
        rows = [
            {
                "change": str(c.number),
                "time": "1700000000",
                "user": c.user,
                "client": c.client,
                "status": c.status,
                "changeType": "public",
                "desc": c.desc + "\n",
            }
            for c in changes
        ]
        return (rows[:limit] if limit else rows), []

    def _cmd_clients(self, args: list[str]) -> tuple[list[Any], list[str]]:
        names = sorted(self._server.clients)
        if "-e" in args:
            wanted = args[args.index("-e") + 1]
            names = [n for n in names if n == wanted]
        return [
            {
                "client": n,
                "Owner": self._server.clients[n]["Owner"],
                "Root": self._server.clients[n]["Root"],
            }
            for n in names
        ], []

    def _cmd_client(self, args: list[str]) -> tuple[list[Any], list[str]]:
        server = self._server
        if "-o" in args:
            name = args[-1]
            spec = P4.Spec({f.lower(): f for f in CLIENT_FIELDS})
            if name in server.clients:
                for key, value in server.clients[name].items():
                    spec[key] = list(value) if isinstance(value, list) else value
            else:
                for key, value in (
                    ("Client", name),
                    ("Owner", self.user),
                    ("Host", ""),
                    ("Description", f"Created by {self.user}.\n"),
                    ("Root", self.cwd),
                    ("LineEnd", "local"),
                    ("Options", "noallwrite noclobber nocompress unlocked nomodtime normdir"),
                    ("SubmitOptions", "submitunchanged"),
                    ("View", [f"//depot/... //{name}/..."]),
                ):
                    spec[key] = value
            return [spec], []
        if "-i" in args:
            spec = dict(self.input)
            self.input = None
            name = spec["Client"]
            for key, value in spec.items():
                if not isinstance(value, str | list):
                    raise _Failure(f"Illegal value of type {type(value).__name__} for {key}")
            for line in spec.get("View", []):
                left, right = line.split()
                depot = left.lstrip("-+")[2:].split("/", 1)[0]
                if depot not in server.depots:
                    raise _Failure(
                        "Error in client specification.",
                        f"Mapping '{left}' is not under '//depot/...'.",
                    )
                if not right.startswith(f"//{name}/"):
                    raise _Failure(
                        "Error in client specification.",
                        f"Mapping '{right}' is not under '//{name}/...'.",
                    )
            owner = server.clients.get(name, {}).get("Owner", self.user)
            if owner != self.user:
                raise _Failure(f"Client '{name}' can only be updated by owner '{owner}'.")
            server.clients[name] = spec
            return [f"Client {name} saved."], []
        if "-d" in args:
            name = args[-1]
            if name not in server.clients:
                raise _Failure(f"Client '{name}' doesn't exist.")
            if server.opened.get(name):
                raise _Failure(
                    f"Client '{name}' has files opened. To delete the client, revert "
                    "any opened files and delete any pending changes first. An "
                    "administrator may specify -f to force the delete of another "
                    "user's client."
                )
            if any(c.client == name and c.status == "pending" for c in server.changes.values()):
                raise _Failure(
                    f"Client '{name}' has pending changes. To delete the client, "
                    "delete any pending changes first."
                )
            del server.clients[name]
            server.have.pop(name, None)
            return [f"Client {name} deleted."], []
        raise _Failure("Usage: client [ -f -t template ] [ -d | -o | -i ] [ clientname ]")

    def _cmd_sync(self, args: list[str]) -> tuple[list[Any], list[str]]:
        server = self._server
        name = self.client
        spec = self._spec(name)
        target_spec = [a for a in args if not a.startswith("-")] or [f"//{name}/..."]
        path, rev = self._split_rev(target_spec[0])
        change = 0 if rev == "#none" else self._change_for(rev)
        view = self._view(name)
        have = server.have.setdefault(name, {})
        keep_files = "-k" in args  # only the have list changes
        opened = server.opened.get(name, {})
        allwrite = "allwrite" in spec["Options"].split()
        clobber = "clobber" in spec["Options"].split()
        rmdir = "rmdir" in spec["Options"].split()
        wanted: dict[str, int] = {}
        for depot_file in self._depot_files(path):
            r = server.rev_at(depot_file, change)
            if r and server.content(depot_file, r) is not None:
                wanted[depot_file] = r
        records: list[dict[str, str]] = []
        for depot_file in sorted(set(wanted) | set(have)):
            if depot_file in opened:
                continue
            new, old = wanted.get(depot_file, 0), have.get(depot_file, 0)
            if new == old:
                continue
            client_file = str(view.translate(depot_file) or "")
            local = self._local(name, client_file) if client_file else None
            if keep_files:
                if new:
                    have[depot_file] = new
                else:
                    del have[depot_file]
                records.append(
                    {
                        "depotFile": depot_file,
                        "clientFile": str(local or ""),
                        "rev": str(new or old),
                        "action": "updated" if new else "deleted",
                        "fileSize": "0",
                        "change": str(change),
                    }
                )
                continue
            if new:
                data = server.content(depot_file, new) or b""
                assert local is not None
                if local.exists() and not old and os.access(local, os.W_OK) and not clobber:
                    raise _Failure(f"Can't clobber writable file {local}")
                local.parent.mkdir(parents=True, exist_ok=True)
                if local.exists():
                    local.chmod(0o644)
                local.write_bytes(data)
                local.chmod(0o644 if allwrite else 0o444)
                have[depot_file] = new
                records.append(
                    {
                        "depotFile": depot_file,
                        "clientFile": str(local),
                        "rev": str(new),
                        "action": "updated" if old else "added",
                        "fileSize": str(len(data)),
                        "change": str(server.files[depot_file][new - 1][0]),
                    }
                )
            else:
                if local is not None and local.exists():
                    local.unlink()
                    if rmdir:
                        parent = local.parent
                        root = self._root(name)
                        while parent != root and parent.is_dir() and not any(parent.iterdir()):
                            parent.rmdir()
                            parent = parent.parent
                del have[depot_file]
                records.append(
                    {
                        "depotFile": depot_file,
                        "clientFile": str(local or ""),
                        "rev": str(old),
                        "action": "deleted",
                        "fileSize": "0",
                        "change": str(change),
                    }
                )
        if not records:
            if not wanted:
                return [], [f"{target_spec[0]} - no such file(s)."]
            return [], [f"{target_spec[0]} - file(s) up-to-date."]
        records[0] = {
            **records[0],
            "totalFileCount": str(len(records)),
            "totalFileSize": str(sum(int(r["fileSize"]) for r in records)),
        }
        return list(records), []

    def _cmd_have(self, args: list[str]) -> tuple[list[Any], list[str]]:
        name = self.client
        view = self._view(name)
        have = self._server.have.get(name, {})
        rows = [
            {
                "depotFile": f,
                "clientFile": str(view.translate(f)),
                "haveRev": str(r),
                "path": str(self._local(name, str(view.translate(f)))),
            }
            for f, r in sorted(have.items())
        ]
        if not rows:
            return [], [f"{args[0] if args else '//...'} - file(s) not on client."]
        return rows, []

    def _cmd_edit(self, args: list[str]) -> tuple[list[Any], list[str]]:
        name = self.client
        view = self._view(name)
        rows = []
        for path in args:
            for depot_file in self._depot_files(path):
                have = self._server.have.get(name, {}).get(depot_file, 0)
                self._server.opened.setdefault(name, {})[depot_file] = Opened(
                    "edit", "default", have
                )
                local = self._local(name, str(view.translate(depot_file)))
                local.chmod(0o644)
                rows.append(
                    {
                        "depotFile": depot_file,
                        "clientFile": str(local),
                        "workRev": str(have),
                        "action": "edit",
                        "type": "text",
                    }
                )
        return rows, []

    def _cmd_opened(self, args: list[str]) -> tuple[list[Any], list[str]]:
        name = self.client
        opened = self._server.opened.get(name, {})
        view = self._view(name)
        rows = [
            {
                "depotFile": f,
                "clientFile": str(view.translate(f)),
                "rev": str(o.rev),
                "action": o.action,
                "change": o.change,
                "type": "text",
                "user": self.user,
                "client": name,
            }
            for f, o in sorted(opened.items())
        ]
        if not rows:
            return [], [f"{args[0] if args else '//...'} - file(s) not opened on this client."]
        return rows, []

    def _cmd_describe(self, args: list[str]) -> tuple[list[Any], list[str]]:
        number = int(args[-1])
        change = self._server.changes.get(number)
        if change is None:
            raise _Failure(f"Change {number} unknown.")
        row: dict[str, Any] = {
            "change": str(number),
            "user": change.user,
            "client": change.client,
            "time": "1700000000",
            "desc": change.desc + "\n",
            "status": change.status,
            "changeType": "public",
        }
        files = sorted(change.shelved if "-S" in args else change.files)
        if change.status == "pending" and change.shelved:
            row["shelved"] = ""
        if files:
            row["depotFile"] = files
            row["action"] = ["edit" if f in self._server.files else "add" for f in files]
            row["rev"] = [str(len(self._server.files.get(f, []))) for f in files]
        return [row], []

    def _cmd_unshelve(self, args: list[str]) -> tuple[list[Any], list[str]]:
        number = int(args[args.index("-s") + 1])
        change = self._server.changes.get(number)
        if change is None or not change.shelved:
            raise _Failure(f"Change {number} - no such file(s).")
        name = self.client
        view = self._view(name)
        opened = self._server.opened.setdefault(name, {})
        rows, warnings = [], []
        for depot_file, data in sorted(change.shelved.items()):
            client_file = view.translate(depot_file)
            if not client_file:
                warnings.append(f"{depot_file} - file(s) not in client view.")
                continue
            local = self._local(name, str(client_file))
            action = "edit" if depot_file in self._server.files else "add"
            if depot_file in opened:
                self._server.resolves.setdefault(name, {})[depot_file] = (data, number)
                warnings.append(
                    f"{depot_file} - must resolve {depot_file}@={number} before submitting"
                )
            else:
                have = self._server.have.get(name, {}).get(depot_file, 0)
                opened[depot_file] = Opened(action, "default", have)
                local.parent.mkdir(parents=True, exist_ok=True)
                if local.exists():
                    local.chmod(0o644)
                local.write_bytes(data)
            rows.append(
                {
                    "depotFile": depot_file,
                    "rev": "none" if action == "add" else "1",
                    "action": action,
                    "clientFile": str(local),
                }
            )
        return rows, warnings

    def _cmd_resolve(self, args: list[str]) -> tuple[list[Any], list[str]]:
        name = self.client
        pending = self._server.resolves.setdefault(name, {})
        view = self._view(name)
        if not pending:
            return [], ["No file(s) to resolve."]
        rows = []
        for depot_file, (theirs, number) in sorted(pending.items()):
            local = self._local(name, str(view.translate(depot_file)))
            rows.append(
                {
                    "clientFile": str(local),
                    "fromFile": depot_file,
                    "startFromRev": str(number),
                    "endFromRev": str(number),
                    "resolveType": "content",
                    "resolveFlag": "c",
                }
            )
            if "-am" in args:
                yours = local.read_bytes() if local.exists() else b""
                have = self._server.have.get(name, {}).get(depot_file, 0)
                base = (self._server.content(depot_file, have) or b"") if have else b""
                if yours in (base, theirs):
                    local.write_bytes(theirs)
                    del pending[depot_file]
                elif theirs == base:
                    del pending[depot_file]
        return rows, []

    def _cmd_revert(self, args: list[str]) -> tuple[list[Any], list[str]]:
        name = self.client
        opened = self._server.opened.get(name, {})
        rows = [
            {"depotFile": f, "action": "reverted", "oldAction": o.action}
            for f, o in sorted(opened.items())
        ]
        if "-k" not in args:
            raise _Failure("fake: only 'revert -k' is implemented")
        self._server.opened[name] = {}
        self._server.resolves.pop(name, None)
        if not rows:
            return [], [f"{args[-1]} - file(s) not opened on this client."]
        return rows, []

    def _cmd_change(self, args: list[str]) -> tuple[list[Any], list[str]]:
        if "-d" not in args:
            raise _Failure("fake: only 'change -d' is implemented")
        number = int(args[-1])
        change = self._server.changes.get(number)
        if change is None or change.status != "pending":
            raise _Failure(f"Change {number} unknown.")
        if change.shelved:
            raise _Failure(f"Change {number} has shelved files -- use 'shelve -d' to delete them.")
        del self._server.changes[number]
        return [f"Change {number} deleted."], []


def _flatten(args: Any) -> tuple[Any, ...]:
    out: list[Any] = []
    if isinstance(args, tuple | list):
        for item in args:
            out.extend(_flatten(item))
    else:
        out.append(args)
    return tuple(out)


def factory_for(server: FakeServer) -> Any:
    """A P4 factory for the adapter: each call makes a new FakeP4 on ``server``."""
    return lambda: FakeP4(server)


# ------------------------------------------------------------------ in another process

STATE_ENV = "DEVBOX_TEST_P4_STATE"  # the state file from_state serves
LOCK_BOUND = 60.0  # seconds a command waits for another process's command on the same state


def processes_holding(wanted: Iterable[bytes]) -> list[str]:
    """Every process (all of /proc) whose argv or environment holds one of ``wanted``:
    ``"pid N (comm) cmdline"`` / ``"... environ"`` (never the text found)."""
    needles = [w for w in wanted if w]
    found: list[str] = []
    if not needles:
        return found
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        for part in ("cmdline", "environ"):
            try:
                data = (entry / part).read_bytes()
            except OSError:  # gone, or a kernel thread
                continue
            if any(n in data for n in needles):
                try:
                    comm = (entry / "comm").read_text().strip()
                except OSError:
                    comm = "?"
                found.append(f"pid {entry.name} ({comm}) {part}")
    return found


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


def _unb64(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)


def state_of(server: FakeServer) -> dict[str, Any]:
    """Everything a server holds (but ``on_login``), as JSON-able data."""
    changes = {}
    for number, change in server.changes.items():
        row = asdict(change)
        row["shelved"] = {k: _b64(v) for k, v in change.shelved.items()}
        changes[str(number)] = row
    return {
        "port": server.port,
        "depots": sorted(server.depots),
        "users": dict(server.users),
        "tickets": dict(server.tickets),
        "files": {k: [[n, _b64(d)] for n, d in revs] for k, revs in server.files.items()},
        "changes": changes,
        "labels": dict(server.labels),
        "clients": {k: dict(v) for k, v in server.clients.items()},
        "have": {k: dict(v) for k, v in server.have.items()},
        "opened": {
            c: {f: [o.action, o.change, o.rev] for f, o in files.items()}
            for c, files in server.opened.items()
        },
        "resolves": {
            c: {f: [_b64(d), n] for f, (d, n) in files.items()}
            for c, files in server.resolves.items()
        },
        "calls": [[cmd, list(args)] for cmd, args in server.calls],
        "logins": list(server.logins),
        "scan_processes": server.scan_processes,
        "login_scans": server.login_scans,
        "secret_sightings": list(server.secret_sightings),
        "next": server._next,
    }


def load_state(server: FakeServer, data: dict[str, Any]) -> None:
    """Make ``server`` hold what ``data`` (from :func:`state_of`) says (``on_login`` stays)."""
    server.port = data["port"]
    server.depots = set(data["depots"])
    server.users = dict(data["users"])
    server.tickets = dict(data["tickets"])
    server.files = {k: [(int(n), _unb64(d)) for n, d in revs] for k, revs in data["files"].items()}
    server.changes = {}
    for number, row in data["changes"].items():
        shelved = {k: _unb64(v) or b"" for k, v in row["shelved"].items()}
        server.changes[int(number)] = Change(**{**row, "shelved": shelved})
    server.labels = dict(data["labels"])
    server.clients = {k: dict(v) for k, v in data["clients"].items()}
    server.have = {k: dict(v) for k, v in data["have"].items()}
    server.opened = {
        c: {f: Opened(a, ch, int(r)) for f, (a, ch, r) in files.items()}
        for c, files in data["opened"].items()
    }
    server.resolves = {
        c: {f: (_unb64(d) or b"", int(n)) for f, (d, n) in files.items()}
        for c, files in data["resolves"].items()
    }
    server.calls = [(cmd, tuple(args)) for cmd, args in data["calls"]]
    server.logins = list(data["logins"])
    server.scan_processes = bool(data["scan_processes"])
    server.login_scans = int(data["login_scans"])
    server.secret_sightings = list(data["secret_sightings"])
    server._next = int(data["next"])


def _locked(fd: int, kind: int) -> None:
    def take() -> bool:
        try:
            fcntl.flock(fd, kind | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    if not poll(take, LOCK_BOUND, 0.01):
        raise TimeoutError(f"the fake P4 state is locked for over {LOCK_BOUND:g}s")


def write_state(server: FakeServer, path: Path) -> Path:
    """Save ``server`` to ``path`` (0600; it holds the users' passwords) for from_state."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        _locked(fd, fcntl.LOCK_EX)
        _rewrite(fd, json.dumps(state_of(server)).encode())
    finally:
        os.close(fd)
    return path


def read_state(path: Path) -> FakeServer:
    """The server a state file holds now (what the jobs' commands left there)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        _locked(fd, fcntl.LOCK_SH)
        server = FakeServer()
        load_state(server, json.loads(_read(fd)))
    finally:
        os.close(fd)
    return server


def _read(fd: int) -> bytes:
    size = os.fstat(fd).st_size
    return os.pread(fd, size, 0)


def _rewrite(fd: int, data: bytes) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)
    os.fsync(fd)


class StateFileServer(FakeServer):
    """A :class:`FakeServer` kept in a state file: each command reloads it and saves what
    it changed, under an flock. The file is opened once, when the server is made (in
    P4Session.connect, as root), so a command run with the container owner's filesystem
    identity (the sync) still reads and writes it."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self._fd = -1
        self._fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        self._depth = 0
        _locked(self._fd, fcntl.LOCK_SH)
        try:
            load_state(self, json.loads(_read(self._fd)))
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    @contextmanager
    def _transaction(self) -> Iterator[object]:
        if self._depth:
            yield self
            return
        _locked(self._fd, fcntl.LOCK_EX)
        self._depth += 1
        try:
            before = _read(self._fd)
            load_state(self, json.loads(before))
            try:
                yield self
            finally:
                after = json.dumps(state_of(self)).encode()
                if after != before:
                    _rewrite(self._fd, after)
        finally:
            self._depth -= 1
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def transaction(self) -> AbstractContextManager[object]:
        return self._transaction()

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __del__(self) -> None:
        self.close()


def from_state() -> FakeP4:
    """The ``p4.factory`` of tests (``tests.fakes.p4fake:from_state``): a FakeP4 on the
    server of the state file ``$DEVBOX_TEST_P4_STATE`` names."""
    name = os.environ.get(STATE_ENV, "")
    if not name:
        raise RuntimeError(f"tests.fakes.p4fake:from_state needs {STATE_ENV} (a state file)")
    return FakeP4(StateFileServer(Path(name)))
