"""Resource limits of a container (memory, CPUs, PIDs): parsing, layering and host checks.

Pure: no I/O. The host's totals come in as a :class:`HostSize` (``adapters/cgroupfs.py`` reads
them). Layers, lowest first: the ``limits.*`` settings < the branch map entry (``memory``,
``cpus``, ``pids`` in ``branches.toml``) < the product map entry (``products.toml``) < the
``--memory/--cpus/--pids`` flags. ``auto`` means: the host's size less a reserve, so one
container can never take the whole host (memory: total less ``limits.host_reserve``; CPUs:
all but one core, at least one).

Every container devbox makes gets all three, as Docker limits (``mem_limit`` with no extra
swap, ``nano_cpus``, ``pids_limit``) and as ``devbox.limits.*`` labels for listings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from devbox.errors import UserError

_SIZE = re.compile(r"(?P<num>[0-9]+(?:\.[0-9]+)?)(?P<unit>[kmgt]?)(?:i?b)?", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
MIN_MEMORY = 64 << 20  # systemd, journald and sshd need about this much to boot
MIN_PIDS = 64
AUTO = "auto"
SETTING_NAMES = ("limits.memory", "limits.cpus", "limits.pids", "limits.host_reserve")


@dataclass(frozen=True)
class HostSize:
    memory: int  # bytes
    cpus: int


@dataclass(frozen=True)
class Limits:
    """What one container may use. ``None`` in a request layer means "not said here"."""

    memory: int | None = None  # bytes
    cpus: float | None = None
    pids: int | None = None

    def over(self, lower: Limits) -> Limits:
        """This layer on top of ``lower``: what this one says wins."""
        return Limits(
            memory=self.memory if self.memory is not None else lower.memory,
            cpus=self.cpus if self.cpus is not None else lower.cpus,
            pids=self.pids if self.pids is not None else lower.pids,
        )

    def docker_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for the docker SDK's ``containers.create``."""
        out: dict[str, Any] = {}
        if self.memory is not None:
            out["mem_limit"] = self.memory
            out["memswap_limit"] = self.memory  # no swap on top: a hog is stopped at the limit
        if self.cpus is not None:
            out["nano_cpus"] = round(self.cpus * 1e9)
        if self.pids is not None:
            out["pids_limit"] = self.pids
        return out

    def labels(self) -> dict[str, str]:
        from devbox.model import labels

        return {
            labels.LIMIT_MEMORY: str(self.memory or ""),
            labels.LIMIT_CPUS: _cpus_text(self.cpus),
            labels.LIMIT_PIDS: str(self.pids or ""),
        }

    def to_dict(self) -> dict[str, Any]:
        return {"memory": self.memory, "cpus": self.cpus, "pids": self.pids}

    def describe(self) -> str:
        return (
            f"memory {human(self.memory)}, CPUs {_cpus_text(self.cpus) or '-'}, "
            f"PIDs {self.pids or '-'}"
        )


def _cpus_text(cpus: float | None) -> str:
    if cpus is None:
        return ""
    return f"{cpus:g}"


def human(size: int | None) -> str:
    if size is None:
        return "-"
    for unit in ("t", "g", "m", "k"):
        if size >= _UNITS[unit]:
            return f"{size / _UNITS[unit]:.1f}".rstrip("0").rstrip(".") + unit
    return str(size)


def parse_memory(raw: Any, what: str = "memory") -> int:
    """``512m``, ``4g``, ``1.5g``, ``4GiB`` or a byte count -> bytes."""
    text = str(raw)
    match = _SIZE.fullmatch(text)
    if match is None or isinstance(raw, bool):
        raise UserError(f"invalid {what} {raw!r}", hint="a size like 512m, 4g or 1.5g")
    value = int(float(match["num"]) * _UNITS[match["unit"].lower()])
    if value < MIN_MEMORY:
        raise UserError(
            f"{what} {text} is too small: a VM-style container needs at least {human(MIN_MEMORY)}",
            hint="ask for 256m or more",
        )
    return value


def parse_cpus(raw: Any, what: str = "cpus") -> float:
    text = str(raw)
    if isinstance(raw, bool) or not re.fullmatch(r"[0-9]+(?:\.[0-9]+)?", text):
        raise UserError(f"invalid {what} {raw!r}", hint="a number of CPUs like 1, 2 or 0.5")
    value = float(text)
    if not 0 < value <= 4096:
        raise UserError(f"invalid {what} {raw!r}", hint="a number of CPUs above 0, like 1 or 0.5")
    return value


def parse_pids(raw: Any, what: str = "pids") -> int:
    text = str(raw)
    if isinstance(raw, bool) or not text.isascii() or not text.isdigit():
        raise UserError(f"invalid {what} {raw!r}", hint="a whole number of processes, e.g. 4096")
    value = int(text)
    if value < MIN_PIDS:
        raise UserError(
            f"{what} {value} is too small: systemd alone runs about 20 processes",
            hint=f"ask for {MIN_PIDS} or more",
        )
    return value


def request(memory: Any = None, cpus: Any = None, pids: Any = None, *, where: str = "") -> Limits:
    """One layer from raw values (flags, a map entry); ``None`` or ``""`` = not given."""
    prefix = f"{where}: " if where else ""

    def given(value: Any) -> bool:
        return value is not None and str(value).strip() != ""

    return Limits(
        memory=parse_memory(memory, prefix + "memory") if given(memory) else None,
        cpus=parse_cpus(cpus, prefix + "cpus") if given(cpus) else None,
        pids=parse_pids(pids, prefix + "pids") if given(pids) else None,
    )


def from_table(raw: Mapping[str, Any], where: str) -> Limits:
    """The ``memory``/``cpus``/``pids`` keys of a branch or product map entry."""
    return request(raw.get("memory"), raw.get("cpus"), raw.get("pids"), where=where)


def settings_of(cfg: Any) -> dict[str, Any]:
    """The ``limits.*`` settings of a Config, as a plain mapping."""
    return {name: cfg[name] for name in SETTING_NAMES}


def from_labels(lbls: Mapping[str, str]) -> Limits:
    """A container's limits from the ``devbox.limits.*`` labels devbox gave it (a clone
    starts from its source's); labels missing or unreadable: not said."""
    from devbox.model import labels

    def num(key: str, kind: type) -> Any:
        try:
            return kind(lbls[key]) if lbls.get(key) else None
        except ValueError:
            return None

    return Limits(
        memory=num(labels.LIMIT_MEMORY, int),
        cpus=num(labels.LIMIT_CPUS, float),
        pids=num(labels.LIMIT_PIDS, int),
    )


def defaults(settings: Mapping[str, Any], host: HostSize) -> Limits:
    """The ``limits.*`` settings, with ``auto`` worked out against the host."""
    reserve = parse_memory(settings.get("limits.host_reserve") or "2g", "limits.host_reserve")
    mem_raw = str(settings.get("limits.memory") or AUTO).strip().lower()
    cpu_raw = str(settings.get("limits.cpus") or AUTO).strip().lower()
    memory = (
        max(MIN_MEMORY, host.memory - reserve)
        if mem_raw == AUTO
        else parse_memory(mem_raw, "setting limits.memory")
    )
    cpus = (
        float(max(1, host.cpus - 1))
        if cpu_raw == AUTO
        else parse_cpus(cpu_raw, "setting limits.cpus")
    )
    pids = parse_pids(settings.get("limits.pids") or 4096, "setting limits.pids")
    return Limits(memory=memory, cpus=cpus, pids=pids)


def resolve(settings: Mapping[str, Any], host: HostSize, *layers: Limits) -> Limits:
    """Defaults < each layer in order (later wins), then checked against the host."""
    out = defaults(settings, host)
    for layer in layers:
        out = layer.over(out)
    return check(out, host, settings)


def check(limits: Limits, host: HostSize, settings: Mapping[str, Any]) -> Limits:
    """Refuse what the host cannot give without risking itself (exit 2, nothing made)."""
    reserve = parse_memory(settings.get("limits.host_reserve") or "2g", "limits.host_reserve")
    ceiling = max(MIN_MEMORY, host.memory - reserve)
    if limits.memory is not None and limits.memory > ceiling:
        raise UserError(
            f"memory {human(limits.memory)} is more than this host can give one "
            f"container ({human(ceiling)}: {human(host.memory)} less the "
            f"{human(reserve)} reserve)",
            hint=f"ask for {human(ceiling)} or less",
        )
    if limits.cpus is not None and limits.cpus > host.cpus:
        raise UserError(
            f"cpus {limits.cpus:g} is more than this host has ({host.cpus})",
            hint=f"ask for {host.cpus} or less",
        )
    return limits


@dataclass(frozen=True)
class Promised:
    """How much of the host the devbox containers are promised together (for doctor)."""

    containers: int
    memory: int
    cpus: float
    host: HostSize

    def describe(self) -> str:
        mem_pct = 100 * self.memory / self.host.memory if self.host.memory else 0
        cpu_pct = 100 * self.cpus / self.host.cpus if self.host.cpus else 0
        return (
            f"{self.containers} container(s) promised {human_gib(self.memory)} of "
            f"{human_gib(self.host.memory)} memory ({mem_pct:.0f} %) and {self.cpus:g} of "
            f"{self.host.cpus} CPUs ({cpu_pct:.0f} %)"
        )


def human_gib(size: int) -> str:
    return f"{size / (1 << 30):.1f} GiB"


def promised(label_sets: Sequence[Mapping[str, str]], host: HostSize) -> Promised:
    """Add up the ``devbox.limits.*`` labels of the running containers."""
    from devbox.model import labels

    memory, cpus = 0, 0.0
    for lbls in label_sets:
        try:
            memory += int(lbls.get(labels.LIMIT_MEMORY) or 0)
            cpus += float(lbls.get(labels.LIMIT_CPUS) or 0)
        except ValueError:
            continue
    return Promised(len(label_sets), memory, cpus, host)
