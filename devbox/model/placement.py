"""Where ``make-dev-container --host auto`` puts a container (pure: no I/O).

Each known host (this machine is ``local``) was asked for ``GET /v1/host`` and ``GET
/v1/whoami``; :func:`choose` keeps the hosts that answered, on which the container's memory
limit fits (no more than the host gives one container, no more than it has free) and the
caller's quota there still has room, and picks the one with the most free memory (a tie: the
first in the order given, ``local`` first). Nothing fits: a UserError naming each host's reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from devbox.errors import UserError
from devbox.model.limits import human

AUTO = "auto"


@dataclass(frozen=True)
class HostView:
    """What one host said (``facts``: GET /v1/host, ``whoami``: GET /v1/whoami), or why not."""

    name: str
    facts: Mapping[str, Any] | None = None
    whoami: Mapping[str, Any] | None = None
    error: str | None = None


@dataclass(frozen=True)
class Choice:
    host: str
    free: int  # bytes free there when asked
    memory: int | None  # the memory limit the container gets there (None: the host's own)
    reason: str  # one line: why this host
    skipped: dict[str, str]  # the other hosts: why not (or "less free memory")

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "free": self.free,
            "memory": self.memory,
            "reason": self.reason,
            "skipped": dict(self.skipped),
        }


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def unfit(view: HostView, memory: int | None, cpus: float | None) -> str | None:
    """Why the container cannot go to ``view``'s host (None: it fits). ``memory``/``cpus``
    None: the host's own default (its size less its reserve)."""
    if view.error is not None or view.facts is None:
        return f"unreachable: {view.error or 'no answer'}"
    mem = view.facts.get("memory") or {}
    free = _int(mem.get("free"))
    if free is None:
        return "did not say how much memory it has free"
    largest = _int(mem.get("largest"))
    if memory is not None and largest is not None and memory > largest:
        return f"memory {human(memory)} is more than it gives one container ({human(largest)})"
    if memory is not None and memory > free:
        return f"memory {human(memory)} is more than it has free ({human(free)})"
    total_cpus = _num((view.facts.get("cpus") or {}).get("total"))
    if cpus is not None and total_cpus is not None and cpus > total_cpus:
        return f"cpus {cpus:g} is more than it has ({total_cpus:g})"
    return _over_quota(view.whoami or {}, memory if memory is not None else largest, cpus)


def _over_quota(whoami: Mapping[str, Any], memory: int | None, cpus: float | None) -> str | None:
    """The caller's quota on that host (root has none), with what they own there already."""
    if whoami.get("quota_exempt"):
        return None
    quota, used = whoami.get("quota") or {}, whoami.get("used") or {}
    user = whoami.get("user") or "you"
    containers = _int(quota.get("containers")) or 0
    owned = _int(used.get("containers"))
    if owned is None:
        owned = len(whoami.get("owns") or [])
    if containers and owned + 1 > containers:
        return f"quota full: {user} may own {containers} container(s), owns {owned}"
    q_mem, u_mem = _int(quota.get("memory")), _int(used.get("memory")) or 0
    if q_mem is not None:
        if memory is None:
            return f"{user} has a memory quota there: ask for --memory"
        if u_mem + memory > q_mem:
            return (
                f"over quota: {user} may be promised {human(q_mem)}, has {human(u_mem)}, "
                f"asks {human(memory)}"
            )
    q_cpus, u_cpus = _num(quota.get("cpus")), _num(used.get("cpus")) or 0.0
    if q_cpus is not None:
        if cpus is None:
            return f"{user} has a CPU quota there: ask for --cpus"
        if u_cpus + cpus > q_cpus + 1e-9:
            return f"over quota: {user} may be promised {q_cpus:g} CPUs, has {u_cpus:g}"
    return None


def choose(views: Sequence[HostView], memory: int | None, cpus: float | None = None) -> Choice:
    """The host with the most free memory among those the container fits (a tie: the first
    given); UserError (exit 2) naming every host's reason when none fits."""
    reasons: dict[str, str] = {}
    best: tuple[HostView, int] | None = None
    for view in views:
        why = unfit(view, memory, cpus)
        if why is not None:
            reasons[view.name] = why
            continue
        free = _int(((view.facts or {}).get("memory") or {}).get("free")) or 0
        if best is None or free > best[1]:
            if best is not None:
                reasons[best[0].name] = "less free memory"
            best = (view, free)
        else:
            reasons[view.name] = "less free memory"
    wanted = f"memory {human(memory)}" if memory is not None else "the host's default memory"
    if best is None:
        detail = "; ".join(f"{name}: {why}" for name, why in reasons.items()) or "no hosts"
        raise UserError(
            f"--host auto: no host fits {wanted} ({detail})",
            hint="ask for less (--memory), free some, or name a host with --host NAME",
        )
    view, free = best
    limit = memory
    if limit is None:
        limit = _int(((view.facts or {}).get("memory") or {}).get("largest"))
    reason = f"most free memory ({human(free)}) that fits {wanted}"
    others = [n for n in reasons if n != view.name]
    if others:
        reason += "; " + ", ".join(f"{n}: {reasons[n]}" for n in others)
    return Choice(view.name, free, limit, reason, {n: reasons[n] for n in others})


def spread(
    views: Sequence[HostView], count: int, memory: int | None, cpus: float | None = None
) -> dict[str, int]:
    """How many of ``count`` clones go to each host (``clone --hosts``): one at a time to the
    host with the most free memory per clone it already has (free / (given + 1)), among the
    hosts the clone fits (its memory limit, the caller's quota counting what this spread has
    given there already). Hosts in the order given; a host given none is left out. Nothing
    fits one of the clones: a UserError naming each host's reason."""
    given = {v.name: 0 for v in views}
    for _ in range(count):
        best: tuple[float, str] | None = None
        reasons: dict[str, str] = {}
        for view in views:
            why = unfit(_with_more(view, given[view.name], memory, cpus), memory, cpus)
            if why is not None:
                reasons[view.name] = why
                continue
            free = _int(((view.facts or {}).get("memory") or {}).get("free")) or 0
            score = free / (given[view.name] + 1)
            if best is None or score > best[0]:
                best = (score, view.name)
        if best is None:
            detail = "; ".join(f"{name}: {why}" for name, why in reasons.items()) or "no hosts"
            placed = sum(given.values())
            raise UserError(
                f"--hosts: no host takes clone {placed + 1} of {count} ({detail})",
                hint="fewer clones (--count), less memory (--memory), or more hosts",
            )
        given[best[1]] += 1
    return {name: n for name, n in given.items() if n}


def _with_more(view: HostView, extra: int, memory: int | None, cpus: float | None) -> HostView:
    """``view`` as it would be with ``extra`` more clones of the caller's on it."""
    if not extra or view.facts is None:
        return view
    facts = dict(view.facts)
    mem = dict(facts.get("memory") or {})
    free = _int(mem.get("free"))
    if free is not None and memory is not None:
        mem["free"] = free - extra * memory
    facts["memory"] = mem
    whoami = dict(view.whoami or {})
    used = dict(whoami.get("used") or {})
    owned = _int(used.get("containers"))
    if owned is None:
        owned = len(whoami.get("owns") or [])
    used["containers"] = owned + extra
    if memory is not None:
        used["memory"] = (_int(used.get("memory")) or 0) + extra * memory
    if cpus is not None:
        used["cpus"] = (_num(used.get("cpus")) or 0.0) + extra * cpus
    whoami["used"] = used
    return HostView(view.name, facts, whoami, view.error)
