"""``devbox dockeruser run-on``: one command over SSH (paramiko) on many containers at once.

Connections use devbox's key and known_hosts (host keys learnt through the Docker API at make
or clone time; an unknown or changed key is refused). The socket is opened the way the rest of
devbox reaches a container: directly through the host's shim when there is one, else from
inside the container's network namespace.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from devbox.adapters import ssh
from devbox.adapters.docker import containers as dc
from devbox.adapters.docker.containers import ContainerSummary
from devbox.config import Config
from devbox.errors import DevboxError, UserError
from devbox.model import labels
from devbox.model.naming import validate_name
from devbox.paths import Layout

MAX_JOBS = 64
PER_PROCESS = 8  # the fewest connections worth a process of their own
CPUS_PER_PROCESS = 4  # our CPU per connection against its sshd's (see processes)


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


def _clones(source: str) -> list[str]:
    """The clones of ``source`` (as ``clone_records.clones_of``), from one list of the
    engine's: no inspect per clone."""
    validate_name(source, "source container name")
    return sorted(
        st.name
        for st in dc.list_summaries(f"{labels.CLONE_OF}={source}")
        if st.labels.get(labels.KIND) == "clone"
    )


def targets(names: list[str], clones_of: str | None) -> list[str]:
    """The containers to run on: ``names`` then the clones of ``clones_of``, each once."""
    out: list[str] = []
    for name in names:
        validate_name(name)
        if name not in out:
            out.append(name)
    if clones_of is not None:
        found = _clones(clones_of)
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
    out: list[str] = []
    for name in names:
        validate_name(name)
        if name not in out and dc.inspect(name) is not None:
            out.append(name)
    if clones_of is not None:
        out += [n for n in _clones(clones_of) if n not in out]
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


def found_here(names: list[str]) -> dict[str, ContainerSummary]:
    """The devbox containers among ``names``, from ONE list of the engine's (not an inspect
    each): by name, and by full ID as ``dc.inspect`` also finds them."""
    wanted = set(names)
    out: dict[str, ContainerSummary] = {}
    for summary in dc.list_summaries(labels.ROLE):
        for key in (summary.name, summary.id):
            if key in wanted:
                out[key] = summary
    return out


@dataclass(frozen=True)
class _Shared:
    """What every connection of one run shares: read once, not once per container."""

    cfg: Config
    command: str
    timeout: float
    key: Any  # paramiko.PKey (only adapters import paramiko)
    host_keys: ssh.HostKeys
    found: dict[str, ContainerSummary]


def _shared(cfg: Config, names: list[str], command: str, timeout: float) -> _Shared:
    from devbox.state.container_records import devbox_key, known_hosts

    layout = Layout(cfg.root)
    key = ssh.load_key(devbox_key(layout))
    return _Shared(
        cfg, command, timeout, key, ssh.read_host_keys(known_hosts(layout)), found_here(names)
    )


def run_one(cfg: Config, name: str, command: str, timeout: float) -> RunResult:
    """``command`` on one container (its own read of the key, known_hosts and engine)."""
    try:
        shared = _shared(cfg, [name], command, timeout)
    except DevboxError as err:
        return RunResult(name, None, 0.0, error=str(err))
    return _run_one(shared, name)


def _run_one(shared: _Shared, name: str) -> RunResult:
    from devbox.services import host_reach
    from devbox.state.container_records import DEV_USER

    cfg, timeout = shared.cfg, shared.timeout
    t0 = time.monotonic()
    ip = ""
    try:
        st = shared.found.get(name)
        if st is None:
            raise UserError(f"no devbox container named '{name}'")
        if st.status != "running":
            raise UserError(f"'{name}' is not running")
        ip = _address(cfg, name)
        if not ip:
            raise UserError(f"'{name}' has no LAN address")
        sock = host_reach.host_connector(cfg, name)(ip, 22, min(10.0, timeout))
        # known_hosts has the container's name and address; connect by name-checked address
        transport = ssh.open_transport(
            ip, DEV_USER, shared.key, shared.host_keys, sock, timeout=min(10.0, timeout)
        )
        try:
            result = ssh.run_on_transport(transport, shared.command, timeout=timeout)
        finally:
            transport.close()
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
    procs: int | None = None,
) -> list[RunResult]:
    """Run ``command`` (one shell command line for the remote login shell) on every target in
    parallel; results in target order, each also to ``on_done`` as it comes in (in the calling
    thread, one at a time). devbox's key, its known_hosts and the engine's list of containers
    are read once for the whole run; the connections are shared out to ``procs`` forked
    processes (default: :func:`processes`), at most ``jobs`` at once in all."""
    if not command.strip():
        raise UserError("empty command")
    if jobs < 1 or jobs > MAX_JOBS:
        raise UserError(f"--jobs must be between 1 and {MAX_JOBS}")
    if timeout <= 0:
        raise UserError("--timeout must be positive")
    chosen = targets(names, clones_of)
    shared = _shared(cfg, chosen, command, timeout)
    done: dict[str, RunResult] = {}

    def note(result: RunResult) -> None:
        done[result.name] = result
        if on_done is not None:
            on_done(result)

    procs = min(processes(len(chosen)) if procs is None else procs, jobs, len(chosen))
    if procs <= 1:
        _in_threads(shared, chosen, min(jobs, len(chosen)), note)
    else:
        _in_processes(shared, chosen, procs, -(-min(jobs, len(chosen)) // procs), note)
    return [done[name] for name in chosen]


def processes(count: int, cpus: int | None = None) -> int:
    """How many processes share ``count`` connections: a paramiko handshake is Python, bound
    to one CPU by the GIL, but each connection costs its container's sshd about three times
    the CPU it costs us (measured: ~60 against ~18 ms), so one process per
    :data:`CPUS_PER_PROCESS` CPUs this process may use keeps both sides busy (one on 2 or 3
    CPUs); each with at least :data:`PER_PROCESS` connections (a fork is not free)."""
    import os

    if cpus is None:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    return max(1, min(cpus // CPUS_PER_PROCESS, count // PER_PROCESS))


def _in_threads(
    shared: _Shared, chosen: list[str], workers: int, note: Callable[[RunResult], None]
) -> None:
    lock = threading.Lock()

    def one(name: str) -> None:
        result = _run_one(shared, name)
        with lock:
            note(result)

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="run-on") as pool:
        for future in [pool.submit(one, name) for name in chosen]:
            future.result()


def _in_processes(
    shared: _Shared,
    chosen: list[str],
    procs: int,
    workers: int,
    note: Callable[[RunResult], None],
) -> None:
    """The targets dealt out to ``procs`` forked processes, each with its own pool of
    ``workers`` threads; every result comes back over that process's pipe (one JSON line) as
    it finishes and goes to ``note`` here, in this thread. A target whose process ended without
    its result gets an error row. Bounded: the run's time-out and a margin; Ctrl-C (or any
    error here) kills the processes."""
    import json
    import os
    import selectors
    import signal

    _warm(shared, chosen)
    groups = [chosen[i::procs] for i in range(procs)]
    children: dict[int, int] = {}  # read end -> pid
    sel = selectors.DefaultSelector()
    try:
        for group in groups:
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid == 0:  # the worker: never returns
                os.close(read_end)
                _worker(shared, group, workers, write_end)
            os.close(write_end)
            children[read_end] = pid
            sel.register(read_end, selectors.EVENT_READ)
        pending = {fd: bytearray() for fd in children}  # what came of each line so far
        reported: set[str] = set()
        deadline = time.monotonic() + shared.timeout + 60.0
        for _ in range(1_000_000):  # bounded: each turn reads or waits up to 1 s
            if not pending or time.monotonic() >= deadline:
                break
            for key, _events in sel.select(timeout=1.0):
                fd = int(key.fd)  # type: ignore[call-overload]
                data = os.read(fd, 1 << 16)
                if not data:
                    sel.unregister(fd)
                    del pending[fd]
                    continue
                buf = pending[fd]
                scanned = len(buf)
                buf += data
                for _line in range(len(data) + 1):  # bounded: each turn takes a line off
                    end = buf.find(b"\n", scanned)
                    if end < 0:
                        break
                    fields = json.loads(bytes(buf[:end]))
                    del buf[: end + 1]
                    scanned = 0
                    fields.pop("ok", None)
                    reported.add(fields["name"])
                    note(RunResult(**fields))
        for name in chosen:
            if name not in reported:
                error = "no result: its worker process ended, or the run's time was up"
                note(RunResult(name, None, 0.0, error=error))
    finally:
        for fd, pid in children.items():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)
            os.close(fd)
        sel.close()


def _warm(shared: _Shared, chosen: list[str]) -> None:
    """Import here, before the fork, what every connection needs (paramiko, and pyroute2
    through one route lookup of the first target's address): once, not in each process, and
    never two threads of a fresh process importing pyroute2 at once (it fails part-way)."""
    from devbox.adapters.docker import net  # noqa: F401 - what host_connector imports
    from devbox.services import host_reach

    ssh.preload()
    for name in chosen[:1]:
        ip = _address(shared.cfg, name) if name in shared.found else ""
        if ip:
            host_reach.reachable_directly(ip)


def _worker(shared: _Shared, group: list[str], workers: int, out: int) -> None:
    """A forked worker process: its targets on its own threads, each result one JSON line to
    ``out``; then it exits (``os._exit``: none of the job's own clean-up runs twice)."""
    import json
    import os
    import signal

    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        from devbox.adapters.docker import engine

        engine.reset_client()  # the job's kept-alive connection to dockerd stays the job's
        lock = threading.Lock()

        def send(result: RunResult) -> None:
            data = (json.dumps(result.to_dict()) + "\n").encode()
            with lock:
                view = memoryview(data)
                for _ in range(len(data) + 1):  # bounded: each write moves a byte at least
                    if not view:
                        break
                    view = view[os.write(out, view) :]

        _in_threads(shared, group, min(workers, len(group)), send)
    except BaseException:  # noqa: BLE001 - the parent gives every unreported target an error row
        code = 1
    finally:
        os._exit(code)
