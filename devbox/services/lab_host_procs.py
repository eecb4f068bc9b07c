"""The processes a simulated lab host runs (dockerd, sshd, its devbox service, its DHCP client):
started in the host's network namespace, recorded by PID and start time in its ``host.json``,
found and stopped again.

A recorded PID counts only while ``/proc/PID`` is the same process (its start time) and still
in the host's namespace, so a PID the kernel handed to someone else is never signalled. After a
crash (no record, or a stale one), :func:`sweep` finds whatever still runs inside the host's
namespace: only devbox puts processes there.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devbox import jsonfile
from devbox.errors import OperationFailed
from devbox.model import lab_hosts_plan as hp
from devbox.oplog import OpLog
from devbox.waits import poll, wait_until

GRACE = {"dockerd": 30.0}  # dockerd stops its containers and its containerd first
DEFAULT_GRACE = 10.0


@dataclass(frozen=True)
class Proc:
    pid: int
    start: int  # clock ticks after boot (field 22 of /proc/PID/stat)

    def to_dict(self) -> dict[str, int]:
        return {"pid": self.pid, "start": self.start}

    @classmethod
    def from_dict(cls, data: object) -> Proc | None:
        if not isinstance(data, dict):
            return None
        pid, start = data.get("pid"), data.get("start")
        if isinstance(pid, int) and isinstance(start, int) and pid > 0:
            return cls(pid, start)
        return None


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state first); None when gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(") ", 1)[1].split() if ") " in text else None


def start_ticks(pid: int) -> int | None:
    fields = _stat(pid)
    return int(fields[19]) if fields and len(fields) > 19 else None


def netns_inode(path: Path) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def started(pid: int) -> Proc:
    """The record of a process devbox just started (its start time read now)."""
    return Proc(pid, start_ticks(pid) or 0)


def alive(proc: Proc | None, ns_inode: int | None) -> bool:
    """``proc`` is still that very process, not a zombie, inside the netns ``ns_inode``."""
    if proc is None or ns_inode is None:
        return False
    fields = _stat(proc.pid)
    if not fields or fields[0] == "Z" or len(fields) <= 19 or int(fields[19]) != proc.start:
        return False
    return netns_inode(Path(f"/proc/{proc.pid}/ns/net")) == ns_inode


def exited(pid: int) -> bool:
    fields = _stat(pid)
    return fields is None or fields[0] == "Z"


def stop(proc: Proc | None, ns_inode: int | None, grace: float = DEFAULT_GRACE) -> bool:
    """SIGTERM ``proc`` (if it is still ours), SIGKILL after ``grace``; True if it ran."""
    if proc is None or not alive(proc, ns_inode):
        return False
    terminate(proc.pid, grace)
    return True


def terminate(pid: int, grace: float) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    if poll(lambda: exited(pid), grace, 0.05):
        return
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    poll(lambda: exited(pid), 5.0, 0.05)


def in_netns(ns_inode: int | None) -> list[int]:
    """Live PIDs whose network namespace is ``ns_inode`` (one pass over /proc)."""
    if ns_inode is None:
        return []
    me = os.getpid()
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        if netns_inode(Path(f"/proc/{entry}/ns/net")) == ns_inode and not exited(int(entry)):
            out.append(int(entry))
    return sorted(out)


def sweep(ns_inode: int | None) -> list[int]:
    """Stop every process left inside the netns (TERM, then KILL); returns their PIDs."""
    found = in_netns(ns_inode)
    for pid in found:
        terminate(pid, DEFAULT_GRACE)
    return found


# --- a host's record (host.json) and the processes named in it ------------------------------


def read_record(host: hp.SimHost) -> dict[str, Any]:
    try:
        return jsonfile.read_json(host.record, missing={})
    except jsonfile.CorruptRecord:
        return {}  # down still finds the processes by netns


def note(host: hp.SimHost, **fields: Any) -> None:
    jsonfile.update_json(host.record, lambda cur: {**cur, "name": host.name, **fields}, mode=0o600)


def recorded(record: dict[str, Any], what: str) -> Proc | None:
    return Proc.from_dict(record.get(what))


def host_ns_inode(host: hp.SimHost) -> int | None:
    from devbox.adapters.net import netns

    return netns_inode(netns.named_path(host.netns))


def spawn_in(
    host: hp.SimHost, what: str, argv: list[str], output: Path, env: dict[str, str], log: OpLog
) -> Proc:
    """``argv`` started detached in the host's netns, recorded as ``what`` in its host.json."""
    from devbox.adapters.host import spawn
    from devbox.adapters.net import netns

    log.write(f"{host.name}: start {what}: {' '.join(argv)}")
    pid = spawn.detached(argv, output, env, preexec=netns.preexec(netns.named_path(host.netns)))
    proc = started(pid)
    note(host, **{what: proc.to_dict()})
    return proc


def running_in(host: hp.SimHost, what: str) -> bool:
    return alive(recorded(read_record(host), what), host_ns_inode(host))


def stopper(host: hp.SimHost, what: str) -> Callable[[], bool]:
    return lambda: stop(
        recorded(read_record(host), what), host_ns_inode(host), GRACE.get(what, DEFAULT_GRACE)
    )


def wait_started(
    host: hp.SimHost, what: str, ready: Callable[[], object], log: Path, timeout: float
) -> None:
    """Until ``ready()``; an OperationFailed naming ``log`` when ``what`` exits first or
    ``timeout`` passes."""

    def check() -> bool:
        if not running_in(host, what):
            raise OperationFailed(f"{host.name}: {what} exited at start", hint=f"see {log}")
        return bool(ready())

    wait_until(
        check,
        timeout,
        0.1,
        f"{host.name}: {what}",
        error=lambda: OperationFailed(
            f"{host.name}: {what} did not answer within {timeout:g}s", hint=f"see {log}"
        ),
    )
