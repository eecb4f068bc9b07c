"""``devbox dockeruser run-on``: one command over SSH (paramiko) on many containers at once.

Connections use devbox's key and known_hosts (host keys learnt through the Docker API at make
or clone time; an unknown or changed key is refused). The socket is opened the way the rest of
devbox reaches a container: directly through the host's shim when there is one, else from
inside the container's network namespace.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from devbox.adapters import ssh
from devbox.adapters.docker import containers as dc
from devbox.config import Config
from devbox.errors import DevboxError, UserError
from devbox.model import labels
from devbox.model.naming import validate_name
from devbox.paths import Layout

MAX_JOBS = 64


@dataclass
class RunResult:
    name: str
    exit_code: int | None  # None: never ran (unreachable, refused)
    seconds: float
    stdout: str = ""
    stderr: str = ""
    error: str = ""
    ip: str = ""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def tail(self, count: int) -> list[str]:
        text = (self.stdout.rstrip("\n") + "\n" + self.stderr.rstrip("\n")).strip("\n")
        lines = [line for line in text.splitlines() if line.strip()]
        return lines[-count:] if count > 0 else []

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        return data


def targets(names: list[str], clones_of: str | None) -> list[str]:
    """The containers to run on: ``names`` then the clones of ``clones_of``, each once."""
    from devbox.state import clone_records

    out: list[str] = []
    for name in names:
        validate_name(name)
        if name not in out:
            out.append(name)
    if clones_of is not None:
        found = clone_records.clones_of(clones_of)
        if not found:
            raise UserError(
                f"{clones_of} has no clones",
                hint=f"make some: devbox dockeruser clone {clones_of} --count 5",
            )
        out += [n for n in found if n not in out]
    if not out:
        raise UserError("no containers given", hint="name them, or use --clones-of SRC")
    return out


def targets_here(names: list[str], clones_of: str | None) -> list[str]:
    """As :func:`targets`, for a run over every host: only what this host has (the named
    containers it runs, its clones of ``clones_of``); nothing here is no error."""
    from devbox.state import clone_records

    out: list[str] = []
    for name in names:
        validate_name(name)
        if name not in out and dc.inspect(name) is not None:
            out.append(name)
    if clones_of is not None:
        out += [n for n in clone_records.clones_of(clones_of) if n not in out]
    return out


def _address(cfg: Config, name: str) -> str:
    """``name``'s LAN address from its own lease record (not ``network.show``: that reads
    every record and asks the kernel, once per container of a run over many), else from
    devbox's record of it."""
    from devbox.services import host_reach
    from devbox.state.container_records import read_state

    try:
        return host_reach.lan_address(cfg, name)
    except UserError:
        return str(read_state(Layout(cfg.root), name).get("ip") or "")


def run_one(cfg: Config, name: str, command: str, timeout: float) -> RunResult:
    from devbox.services import host_reach
    from devbox.state.container_records import DEV_USER, devbox_key, known_hosts

    layout = Layout(cfg.root)
    t0 = time.monotonic()
    ip = ""
    try:
        st = dc.inspect(name)
        if st is None or st.labels.get(labels.ROLE) is None:
            raise UserError(f"no devbox container named '{name}'")
        if not st.running:
            raise UserError(f"'{name}' is not running")
        ip = _address(cfg, name)
        if not ip:
            raise UserError(f"'{name}' has no LAN address")
        sock = host_reach.host_connector(cfg, name)(ip, 22, min(10.0, timeout))
        # known_hosts has the container's name and address; connect by name-checked address
        client = ssh.connect(
            ip,
            DEV_USER,
            devbox_key(layout),
            known_hosts(layout),
            timeout=min(10.0, timeout),
            sock=sock,
        )
        try:
            result = ssh.run(client, command, timeout=timeout)
        finally:
            client.close()
    except DevboxError as err:
        return RunResult(name, None, time.monotonic() - t0, error=str(err), ip=ip)
    except Exception as err:  # noqa: BLE001 - one container's trouble must not stop the others
        return RunResult(
            name, None, time.monotonic() - t0, error=f"{type(err).__name__}: {err}", ip=ip
        )
    return RunResult(
        name, result.exit_code, time.monotonic() - t0, result.stdout, result.stderr, ip=ip
    )


def run_on(
    cfg: Config,
    names: list[str],
    command: str,
    clones_of: str | None = None,
    jobs: int = 16,
    timeout: float = 600.0,
    on_done: Callable[[RunResult], None] | None = None,
) -> list[RunResult]:
    """Run ``command`` (one shell command line for the remote login shell) on every target in
    parallel; results in target order, each also to ``on_done`` as it comes in."""
    if not command.strip():
        raise UserError("empty command")
    if jobs < 1 or jobs > MAX_JOBS:
        raise UserError(f"--jobs must be between 1 and {MAX_JOBS}")
    if timeout <= 0:
        raise UserError("--timeout must be positive")
    chosen = targets(names, clones_of)
    workers = min(jobs, len(chosen))

    def one(name: str) -> RunResult:
        result = run_one(cfg, name, command, timeout)
        if on_done is not None:
            on_done(result)
        return result

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="run-on") as pool:
        futures = [pool.submit(one, name) for name in chosen]
        return [f.result() for f in futures]
