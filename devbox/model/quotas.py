"""Per-user quotas on a shared host: how many containers one user may own, and how much
memory and how many CPUs their containers may be promised in all. Pure: the service counts
what a user owns (from container labels) and asks :func:`check` before making more."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from devbox.errors import UserError
from devbox.model.limits import Limits, human, parse_cpus, parse_memory


@dataclass(frozen=True)
class Quota:
    containers: int = 0  # 0: no quota
    memory: int | None = None  # bytes promised in all; None: no quota
    cpus: float | None = None

    @property
    def unlimited(self) -> bool:
        return not self.containers and self.memory is None and self.cpus is None


def from_settings(containers: Any, memory: Any, cpus: Any) -> Quota:
    return Quota(
        containers=int(containers or 0),
        memory=None if memory in (None, "", "none") else parse_memory(memory, "quota.memory"),
        cpus=None if cpus in (None, "", "none") else parse_cpus(cpus, "quota.cpus"),
    )


def for_user(default: Quota, table: Mapping[str, Any], user: str) -> Quota:
    """``default`` with what the per-user table (``[alice] containers = 10``) says for
    ``user``; a bad entry is a UserError naming it."""
    raw = table.get(user)
    if raw is None:
        return default
    if not isinstance(raw, Mapping):
        raise UserError(f"quota table: [{user}] is not a table")
    unknown = set(raw) - {"containers", "memory", "cpus"}
    if unknown:
        raise UserError(f"quota table: [{user}] has unknown keys {', '.join(sorted(unknown))}")
    given = from_settings(
        raw.get("containers", default.containers), raw.get("memory"), raw.get("cpus")
    )
    return Quota(
        containers=given.containers,
        memory=given.memory if "memory" in raw else default.memory,
        cpus=given.cpus if "cpus" in raw else default.cpus,
    )


@dataclass(frozen=True)
class _Total:
    what: str  # the Limits field: memory | cpus
    unit: str  # what follows the quota's amount in a message
    flag: str
    show: Callable[[float], str]


_TOTALS = (
    _Total("memory", "of memory", "--memory SIZE", lambda n: human(int(n))),
    _Total("cpus", "CPUs", "--cpus N", lambda n: f"{n:g}"),
)


def check(
    quota: Quota, user: str, owned: Sequence[tuple[str, Limits]], new: Sequence[Limits]
) -> None:
    """UserError (exit 2) when ``new`` containers on top of the ``owned`` ones (name,
    limits) pass ``user``'s quota: it names the quota and what uses it."""
    if quota.containers and len(owned) + len(new) > quota.containers:
        names = ", ".join(name for name, _ in owned) or "none"
        raise UserError(
            f"over quota: {user} may own {quota.containers} container(s); "
            f"{len(owned)} already ({names}), {len(new)} more asked",
            hint="remove one (devbox remove-dev-container NAME) or ask an admin for more",
        )
    for total in _TOTALS:
        limit = getattr(quota, total.what)
        if limit is None:
            continue
        if any(getattr(lim, total.what) is None for lim in new):
            raise UserError(
                f"{user} has a {total.what} quota ({total.show(limit)} {total.unit}): "
                f"every container needs a {total.what} limit",
                hint=f"add {total.flag}",
            )
        used = sum(getattr(lim, total.what) or 0 for _, lim in owned)
        asked = sum(getattr(lim, total.what) or 0 for lim in new)
        if used + asked > limit + 1e-9:
            users = ", ".join(n for n, lim in owned if getattr(lim, total.what)) or "none"
            raise UserError(
                f"over quota: {user}'s containers may be promised {total.show(limit)} "
                f"{total.unit}; {total.show(used)} promised to {users}, "
                f"{total.show(asked)} more asked",
                hint=f"ask for less ({total.flag}) or remove a container",
            )
