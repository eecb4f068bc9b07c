"""Idle stop (setting ``idle_stop_after``): which running containers have been idle long
enough to stop, from what the service samples every tick. Pure: no I/O, no clock.

A container is *active* in a tick when a devbox command holds it (make, start, clone...), when
an SSH session to it over the network is established (the kernel's socket table of its network
namespace, read by the host: never ``who`` or utmp inside it, which its root could forge), or
when its cgroup used at least ``idle_cpu_percent`` of one CPU since the last tick. An active
tick sets its idle time to 0; an idle tick adds the time since the last one (capped at
``MAX_GAP``: a stalled or suspended service does not count its own stall as idle time); a
tick that cannot tell (the first sample after a (re)start of the service, a socket table that
could not be read) changes nothing.

The idle time is kept as *accumulated seconds* (the service's state file), not as a "last
active" wall-clock time. So a restart of the service neither resets everyone to "just active"
(what was counted stays counted, a crash loop does not keep containers up for ever) nor stops
everything at once (the time the service was down counts neither way: nobody watched). A
container that was (re)started, or is new, starts at 0.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import struct
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

MAX_GAP = 60.0  # seconds: at most this much idle time per tick
MAX_STOPS_PER_TICK = 4  # more due at once (a lowered setting) go in the next ticks
ESTABLISHED = 0x01  # the kernel's TCP_ESTABLISHED, as /proc/net/tcp shows it
SSH_PORT = 22

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)([smhd]))+|(\d+(?:\.\d+)?)")
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
OFF = frozenset({"", "off", "0", "none", "never"})


def parse_duration(text: str) -> float | None:
    """``"8h"``, ``"90m"``, ``"30s"``, ``"1h30m"``, ``"2d"``, ``"45"`` (seconds) -> seconds;
    ``""``, ``"off"``, ``"0"`` -> None (idle stop off). ValueError for anything else."""
    raw = text.strip(" ").lower()  # spaces only: a newline is no part of a duration
    if raw in OFF:
        return None
    m = _DURATION.fullmatch(raw)
    if m is None:
        raise ValueError(f"expected a duration like 8h, 90m, 30s or 1h30m (or off), got {text!r}")
    if m.group(3) is not None:
        seconds = float(m.group(3))
    else:
        seconds = sum(float(n) * _UNITS[u] for n, u in _PART.findall(raw))
    if seconds <= 0:
        return None
    return seconds


@dataclass(frozen=True)
class Settings:
    after: float | None  # seconds of idleness before a stop; None: idle stop is off
    cpu_percent: float  # at or above this (% of one CPU) a tick is active


@dataclass(frozen=True)
class Sample:
    """One running container in one tick, as the service saw it."""

    name: str
    id: str  # the engine's container id: another container of the same name starts at 0
    started_at: str  # the engine's StartedAt: a restart starts at 0
    cpu_usec: int | None  # the cgroup's CPU time so far; None: unreadable
    sessions: int | None  # established SSH connections to it (not loopback); None: unknown
    busy: bool = False  # a devbox command holds its name lock
    keep_running: bool = False  # made with --keep-running: tracked, never stopped


@dataclass(frozen=True)
class Track:
    """What the service keeps per container between ticks (and across its restarts)."""

    id: str
    started_at: str
    idle_seconds: float
    cpu_usec: int | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> Track | None:
        """A track from the state file; None for an entry that is not one (dropped)."""
        try:
            cpu = data.get("cpu_usec")
            idle = float(data["idle_seconds"])
            if not 0 <= idle < float("inf"):  # negative, NaN or infinite: not ours
                return None
            return Track(
                id=str(data["id"]),
                started_at=str(data["started_at"]),
                idle_seconds=idle,
                cpu_usec=int(cpu) if isinstance(cpu, int) and cpu >= 0 else None,
            )
        except (KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True)
class Plan:
    tracks: dict[str, Track]  # every running container's, to keep
    stop: list[str]  # names to stop now, longest idle first
    active: dict[str, bool | None]  # this tick: True active, False idle, None cannot tell


def cpu_percent(before: int | None, after: int | None, seconds: float | None) -> float | None:
    """CPU used between two samples, in % of one CPU; None when it cannot be told."""
    if before is None or after is None or seconds is None or seconds <= 0 or after < before:
        return None
    return (after - before) / (seconds * 1e6) * 100.0


def plan(
    tracks: Mapping[str, Track],
    samples: Iterable[Sample],
    seconds: float | None,
    settings: Settings,
) -> Plan:
    """The next tracks and the containers to stop. ``seconds``: time since the last tick of
    this service process (None: its first tick, nothing to compare with)."""
    out: dict[str, Track] = {}
    activity: dict[str, bool | None] = {}
    due: list[tuple[float, str]] = []
    for s in samples:
        prev = tracks.get(s.name)
        if prev is None or prev.id != s.id or prev.started_at != s.started_at:
            out[s.name] = Track(s.id, s.started_at, 0.0, s.cpu_usec)  # new or restarted
            activity[s.name] = True
            continue
        pct = cpu_percent(prev.cpu_usec, s.cpu_usec, seconds)
        active: bool | None
        if s.busy or (s.sessions or 0) > 0 or (pct is not None and pct >= settings.cpu_percent):
            active = True
        elif pct is None or s.sessions is None:
            active = None
        else:
            active = False
        idle = prev.idle_seconds
        if active:
            idle = 0.0
        elif active is False and seconds is not None:
            idle += min(max(seconds, 0.0), MAX_GAP)
        out[s.name] = Track(s.id, s.started_at, idle, s.cpu_usec)
        activity[s.name] = active
        if (
            settings.after is not None
            and active is False
            and not s.keep_running
            and idle >= settings.after
        ):
            due.append((idle, s.name))
    due.sort(key=lambda d: (-d[0], d[1]))
    return Plan(out, [name for _, name in due[:MAX_STOPS_PER_TICK]], activity)


# ---- the kernel's socket table (/proc/PID/net/tcp and tcp6) ----------------------------------
def _address(hex_text: str) -> str | None:
    """A /proc/net/tcp{,6} address field (the kernel prints each 32-bit word in host order)
    as text; an IPv4-mapped IPv6 address as its IPv4 address."""
    try:
        if len(hex_text) == 8:
            return socket.inet_ntop(socket.AF_INET, struct.pack("=I", int(hex_text, 16)))
        if len(hex_text) == 32:
            words = [int(hex_text[i : i + 8], 16) for i in range(0, 32, 8)]
            raw = struct.pack("=4I", *words)
            if raw[:12] == b"\0" * 10 + b"\xff\xff":
                return socket.inet_ntop(socket.AF_INET, raw[12:])
            return socket.inet_ntop(socket.AF_INET6, raw)
    except (ValueError, OSError, struct.error):
        return None
    return None


def ssh_sessions(table: str, port: int = SSH_PORT) -> int:
    """Established TCP connections to ``port`` on one of the namespace's own addresses other
    than loopback (the LAN's IPv4 and IPv6 ones: a login over the network), in the text of a
    /proc/PID/net/tcp or tcp6 file. A line that does not parse is skipped (the kernel writes
    this file; still, never trust a length)."""
    count = 0
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 4:
            continue
        local, _, local_port = fields[1].partition(":")
        try:
            if int(fields[3], 16) != ESTABLISHED or int(local_port, 16) != port:
                continue
        except ValueError:
            continue
        address = _address(local)
        if address is not None and not ipaddress.ip_address(address).is_loopback:
            count += 1
    return count
