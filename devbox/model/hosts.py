"""Other hosts' devbox services, reached over SSH (``--host NAME``): the ``[hosts.NAME]`` tables
of the user's config and of the admin-wide ``/etc/devbox/hosts.toml``, parsed and checked, and
the fleet view's rows (pure: no I/O; :mod:`devbox.state.host_list` reads and writes the files).

    [hosts.h2]
    ssh = "alice@10.0.0.12"     # USER@ADDR: who logs in where (the caller's own SSH identity)
    port = 22                   # optional
    socket = "/run/devbox/devbox.sock"   # optional: the service's socket there
    devbox = "devbox"           # optional: the command line that runs devbox there
    jump = "auto"               # optional: ssh to its containers through it (true/false/auto)
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from devbox.errors import UserError
from devbox.model.naming import validate_name

LOCAL = "local"  # this machine, in the fleet view
DEFAULT_PORT = 22
DEFAULT_DEVBOX = "devbox"
KEYS = ("ssh", "port", "socket", "devbox", "jump")
AUTO = "auto"  # --host auto (placement); jump = "auto"
RESERVED = (LOCAL, AUTO)
JUMPS = {True: "yes", False: "no", "true": "yes", "false": "no", "yes": "yes", "no": "no"}
JUMP_ALIAS = "devbox-host-"  # the ssh config alias of a host, for ProxyJump
_USER = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}")
_HOSTNAME = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
ADD_HINT = "add it: devbox common hosts add NAME --ssh USER@ADDR"


@dataclass(frozen=True)
class HostEntry:
    """One other host: who logs in where, and how its devbox service is reached there."""

    name: str
    user: str
    address: str
    port: int = DEFAULT_PORT
    socket: str = ""  # the service's socket on that host; empty: that host's default
    devbox: str = DEFAULT_DEVBOX  # the command line that runs devbox on that host
    source: str = ""  # the file it was read from
    jump: str = AUTO  # yes | no | auto: ssh to its containers through it (auto: when needed)

    @property
    def target(self) -> str:
        port = "" if self.port == DEFAULT_PORT else f" port {self.port}"
        return f"{self.user}@{self.address}{port}"

    def dial_argv(self) -> list[str]:
        """What the SSH session runs there: devbox's dial-stdio (no shell of devbox's own;
        sshd hands the quoted line to the user's login shell, as for any ssh command)."""
        argv = [*shlex.split(self.devbox), "common", "dial-stdio"]
        return argv + (["--socket", self.socket] if self.socket else [])

    def to_table(self) -> dict[str, Any]:
        """The ``[hosts.NAME]`` table: defaults left out."""
        table: dict[str, Any] = {"ssh": f"{self.user}@{self.address}"}
        if self.port != DEFAULT_PORT:
            table["port"] = self.port
        if self.socket:
            table["socket"] = self.socket
        if self.devbox != DEFAULT_DEVBOX:
            table["devbox"] = self.devbox
        if self.jump != AUTO:
            table["jump"] = self.jump == "yes"
        return table

    @property
    def jump_alias(self) -> str:
        return JUMP_ALIAS + self.name

    def needs_jump(self, on_link: bool) -> bool:
        """Whether ssh to one of its containers goes through it: ``jump`` yes/no as set;
        auto: when this machine has no interface on the container address's subnet."""
        return self.jump == "yes" or (self.jump == AUTO and not on_link)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "user": self.user,
            "address": self.address,
            "port": self.port,
            "socket": self.socket,
            "devbox": self.devbox,
            "source": self.source,
            "jump": self.jump,
        }


def host_name(name: str) -> str:
    validate_name(name, "host name")
    if name in RESERVED:
        what = "this machine in the fleet view" if name == LOCAL else "--host auto (placement)"
        raise UserError(f"host name '{name}' is taken: it is {what}", hint="pick another name")
    return name


def parse_jump(raw: Any) -> str:
    if raw == AUTO:
        return AUTO
    key = raw.lower() if isinstance(raw, str) else raw
    if isinstance(key, bool | str) and key in JUMPS:
        return JUMPS[key]
    raise UserError(f"jump {raw!r} is not true, false or auto", hint="example: jump = true")


def parse_ssh(text: str) -> tuple[str, str]:
    """``USER@ADDR`` -> (user, address); the address a host name or an IP address."""
    user, sep, address = text.partition("@")
    if not sep or not user or not address:
        raise UserError(f"--ssh {text!r} is not USER@ADDR", hint="example: --ssh alice@bighost")
    if not _USER.fullmatch(user):
        raise UserError(f"--ssh {text!r}: {user!r} is not a user name", hint="example: alice")
    return user, parse_address(address)


def parse_address(text: str) -> str:
    bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        return str(ipaddress.ip_address(bare))
    except ValueError:
        pass
    if not _HOSTNAME.fullmatch(text):
        raise UserError(
            f"{text!r} is neither a host name nor an IP address",
            hint="example: bighost.example.com or 10.0.0.12",
        )
    return text.lower()


def parse_port(raw: Any) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise UserError(f"port {raw!r} is not a number", hint="a TCP port, 1-65535")
    try:
        port = int(raw)
    except ValueError:
        raise UserError(f"port {raw!r} is not a number", hint="a TCP port, 1-65535") from None
    if not 1 <= port <= 65535:
        raise UserError(f"port {port} is out of range", hint="a TCP port, 1-65535")
    return port


def parse_socket(raw: Any) -> str:
    if not isinstance(raw, str) or _CONTROL.search(raw):
        raise UserError(f"socket {raw!r} is not a path", hint="an absolute path on that host")
    if raw and not raw.startswith("/"):
        raise UserError(f"socket {raw!r} is not absolute", hint="example: /run/devbox/devbox.sock")
    return raw


def parse_devbox(raw: Any) -> str:
    """The command line that runs devbox on that host (split like a shell would, no more)."""
    if not isinstance(raw, str) or not raw.strip() or _CONTROL.search(raw):
        raise UserError(f"devbox command {raw!r} is empty or not one line", hint="example: devbox")
    try:
        shlex.split(raw)
    except ValueError as err:
        raise UserError(f"devbox command {raw!r}: {err}", hint="quote it as for a shell") from None
    return raw


def entry(
    name: str,
    ssh: str,
    port: Any = DEFAULT_PORT,
    socket: Any = "",
    devbox: Any = DEFAULT_DEVBOX,
    source: str = "",
    jump: Any = AUTO,
) -> HostEntry:
    user, address = parse_ssh(ssh)
    return HostEntry(
        name=host_name(name),
        user=user,
        address=address,
        port=parse_port(port),
        socket=parse_socket(socket),
        devbox=parse_devbox(devbox),
        source=source,
        jump=parse_jump(jump),
    )


def from_table(name: str, table: Any, source: str) -> HostEntry:
    where = f"{source}: [hosts.{name}]"
    if not isinstance(table, Mapping):
        raise UserError(f"{where} is not a table", hint='example: [hosts.h2] ssh = "alice@h2"')
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise UserError(f"{where}: unknown key {unknown[0]!r}", hint=f"keys: {', '.join(KEYS)}")
    if "ssh" not in table or not isinstance(table["ssh"], str):
        raise UserError(f'{where} needs ssh = "USER@ADDR"', hint="fix or remove the table")
    try:
        return entry(
            name,
            table["ssh"],
            table.get("port", DEFAULT_PORT),
            table.get("socket", ""),
            table.get("devbox", DEFAULT_DEVBOX),
            source,
            table.get("jump", AUTO),
        )
    except UserError as err:
        raise UserError(f"{where}: {err.message}", hint=err.hint) from None


def hosts_of(data: Mapping[str, Any], source: str) -> dict[str, HostEntry]:
    """The hosts of one parsed file (its ``hosts`` table; none: empty)."""
    tables = data.get("hosts", {})
    if not isinstance(tables, Mapping):
        raise UserError(f"{source}: 'hosts' is not a table", hint="use [hosts.NAME] tables")
    return {name: from_table(name, table, source) for name, table in tables.items()}


def merged(admin: Mapping[str, HostEntry], own: Mapping[str, HostEntry]) -> dict[str, HostEntry]:
    """The admin-wide list with the user's own entries over it (by name), sorted by name."""
    both = {**admin, **own}
    return {name: both[name] for name in sorted(both)}


def resolve(hosts: Mapping[str, HostEntry], name: str) -> HostEntry:
    found = hosts.get(name)
    if found is None:
        known = ", ".join(hosts) or "none yet"
        raise UserError(f"unknown host '{name}' (known: {known})", hint=ADD_HINT)
    return found


# ---- the fleet view -------------------------------------------------------------------------
@dataclass(frozen=True)
class HostAnswer:
    """What one host said to a listing: its rows, or why it could not say."""

    host: str
    rows: list[dict[str, Any]] | None = None
    error: str | None = None


def fleet_rows(answers: Iterable[HostAnswer]) -> list[dict[str, Any]]:
    """One list, host by host in the order given, every row with its ``host``; a host that
    did not answer is one row with ``reachable`` false and its ``error``."""
    out: list[dict[str, Any]] = []
    for answer in answers:
        if answer.rows is None:
            out.append(
                {
                    "host": answer.host,
                    "reachable": False,
                    "error": answer.error or "no answer",
                    "name": None,
                }
            )
            continue
        out.extend({"host": answer.host, "reachable": True, **row} for row in answer.rows)
    return out


def fleet_cells(
    rows: Iterable[dict[str, Any]], cells: Callable[[dict[str, Any]], list[Any]]
) -> list[list[Any]]:
    """Table rows of :func:`fleet_rows`: the host, then ``cells`` of the row; a host that did
    not answer, one cell saying why."""
    return [
        [r["host"], *cells(r)] if r["reachable"] else [r["host"], f"unreachable: {r['error']}"]
        for r in rows
    ]


def summary(
    host: HostEntry,
    version: Mapping[str, Any] | None,
    facts: Mapping[str, Any] | None,
    whoami: Mapping[str, Any] | None,
    error: str | None,
) -> dict[str, Any]:
    """One row of ``hosts list``: the entry and what its service said (or why it did not)."""
    row: dict[str, Any] = {
        "name": host.name,
        "ssh": host.target,
        "source": host.source,
        "reachable": error is None,
        "error": error,
        "version": (version or {}).get("version"),
        "api": (version or {}).get("api"),
        "user": (whoami or {}).get("user"),
    }
    row.update({k: (facts or {}).get(k) for k in ("containers", "memory", "cpus", "promised")})
    return row
