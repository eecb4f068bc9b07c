"""A container's usage figures (``devbox dockeruser stats``): what the engine's one-shot stats
and the kernel's ``/proc/PID/net/dev`` say, reduced to the numbers shown, and how they are
shown. Pure: no I/O."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from devbox.model.units import human_bytes


@dataclass(frozen=True)
class Usage:
    """The figures of one container at one moment (None: not known, e.g. stopped)."""

    cpu_percent: float | None = None  # 100 = one CPU busy
    memory_used: int | None = None  # bytes, page cache that can be dropped left out
    memory_limit: int | None = None  # bytes
    pids: int | None = None
    net_rx: int | None = None  # bytes received, every interface but lo
    net_tx: int | None = None  # bytes sent


@dataclass(frozen=True)
class StatsRow:
    name: str
    owner: str
    owner_uid: int
    branch: str
    kind: str
    state: str
    usage: Usage
    opt_bytes: int | None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(out.pop("usage"))
        return out


def cpu_percent(
    cpu_now: int, cpu_before: int, system_now: int, system_before: int, online_cpus: int
) -> float | None:
    """CPU % between two samples as ``docker stats`` computes it: the container's CPU time
    over the host's in the same interval, times the host's CPUs (100 = one CPU busy). None
    when the interval is empty (the first sample has no predecessor)."""
    system_delta = system_now - system_before
    cpu_delta = cpu_now - cpu_before
    if system_delta <= 0 or cpu_delta < 0 or online_cpus <= 0:
        return None
    return round(cpu_delta / system_delta * online_cpus * 100.0, 2)


def _int(data: dict[str, Any], *path: str) -> int:
    value: Any = data
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def memory_used(memory_stats: dict[str, Any]) -> int | None:
    """Memory in use without the inactive page cache (``docker stats``' figure): cgroup v1's
    ``total_inactive_file``, v2's ``inactive_file``, left out of ``usage``."""
    usage = _int(memory_stats, "usage")
    if not usage:
        return None
    stats = memory_stats.get("stats") or {}
    key = "total_inactive_file" if "total_inactive_file" in stats else "inactive_file"
    inactive = _int(stats, key)
    return usage - inactive if inactive < usage else usage


def from_engine(raw: dict[str, Any]) -> Usage:
    """The figures of the engine's one-shot stats (``GET /containers/ID/stats?stream=0``:
    ``cpu_stats`` and ``precpu_stats`` one second apart). Network bytes are not in it for a
    devbox container (its LAN interface is devbox's, not the engine's): see :func:`net_dev`."""
    cpu, pre = raw.get("cpu_stats") or {}, raw.get("precpu_stats") or {}
    online = _int(cpu, "online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or [])
    memory = raw.get("memory_stats") or {}
    pids = _int(raw, "pids_stats", "current")
    before = _int(pre, "system_cpu_usage")
    percent = None
    if before:  # a first sample (no predecessor) says nothing of the CPU
        percent = cpu_percent(
            _int(cpu, "cpu_usage", "total_usage"),
            _int(pre, "cpu_usage", "total_usage"),
            _int(cpu, "system_cpu_usage"),
            before,
            online,
        )
    return Usage(
        cpu_percent=percent,
        memory_used=memory_used(memory),
        memory_limit=_int(memory, "limit") or None,
        pids=pids if "pids_stats" in raw else None,
    )


def net_dev(text: str) -> tuple[int, int] | None:
    """(received, sent) bytes summed over the interfaces of a ``/proc/PID/net/dev`` text,
    loopback left out; None for a text that is not one."""
    lines = text.splitlines()
    if len(lines) < 2 or "|" not in lines[0]:
        return None
    rx = tx = 0
    for line in lines[2:]:
        ifname, sep, rest = line.partition(":")
        fields = rest.split()
        if not sep or len(fields) < 9:
            return None
        if ifname.strip() == "lo":
            continue
        try:
            rx += int(fields[0])
            tx += int(fields[8])
        except ValueError:
            return None
    return rx, tx


def with_net(usage: Usage, net: tuple[int, int] | None) -> Usage:
    if net is None:
        return usage
    return Usage(**{**asdict(usage), "net_rx": net[0], "net_tx": net[1]})


COLUMNS = ["name", "owner", "branch", "state", "CPU %", "memory", "PIDs", "net rx/tx", "/opt"]


def percent_cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}%"


def memory_cell(used: int | None, limit: int | None) -> str:
    """``1.5 GiB / 4.0 GiB (37%)``; ``-`` when nothing is known."""
    if used is None:
        return "-"
    if not limit:
        return human_bytes(used)
    return f"{human_bytes(used)} / {human_bytes(limit)} ({used / limit * 100:.0f}%)"


def net_cell(rx: int | None, tx: int | None) -> str:
    return "-" if rx is None or tx is None else f"{human_bytes(rx)} / {human_bytes(tx)}"


def cells(row: dict[str, Any]) -> list[str]:
    """One table row of a ``StatsRow.to_dict()`` (the API's JSON)."""
    pids = row.get("pids")
    return [
        str(row.get("name", "")),
        str(row.get("owner", "")),
        str(row.get("branch") or "-"),
        str(row.get("state", "")),
        percent_cell(row.get("cpu_percent")),
        memory_cell(row.get("memory_used"), row.get("memory_limit")),
        "-" if pids is None else str(pids),
        net_cell(row.get("net_rx"), row.get("net_tx")),
        human_bytes(row.get("opt_bytes")),
    ]
