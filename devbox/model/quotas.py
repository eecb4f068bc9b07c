"""Per-user quotas on a shared host: how many containers one user may own, and how much
memory and how many CPUs their containers may be promised in all. Pure: the service counts
what a user owns (from container labels) and asks :func:`check` before making more."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    where = f"quota table [{user}]"
    memory = raw.get("memory", "keep")
    cpus = raw.get("cpus", "keep")
    return Quota(
        containers=int(raw.get("containers", default.containers)),
        memory=default.memory
        if memory == "keep"
        else (None if memory == "none" else parse_memory(memory, f"{where} memory")),
        cpus=default.cpus
        if cpus == "keep"
        else (None if cpus == "none" else parse_cpus(cpus, f"{where} cpus")),
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
    if quota.memory is not None:
        used = sum(lim.memory or 0 for _, lim in owned)
        asked = sum(lim.memory or 0 for lim in new)
        if any(lim.memory is None for lim in new):
            raise UserError(
                f"{user} has a memory quota ({human(quota.memory)}): every container needs a "
                "memory limit",
                hint="add --memory SIZE",
            )
        if used + asked > quota.memory:
            raise UserError(
                f"over quota: {user}'s containers may be promised {human(quota.memory)} of "
                f"memory; {human(used)} is promised to {_users(owned, 'memory')}, "
                f"{human(asked)} more asked",
                hint="ask for less (--memory) or remove a container",
            )
    if quota.cpus is not None:
        used_cpus = sum(lim.cpus or 0 for _, lim in owned)
        asked_cpus = sum(lim.cpus or 0 for lim in new)
        if any(lim.cpus is None for lim in new):
            raise UserError(
                f"{user} has a CPU quota ({quota.cpus:g}): every container needs a CPU limit",
                hint="add --cpus N",
            )
        if used_cpus + asked_cpus > quota.cpus + 1e-9:
            raise UserError(
                f"over quota: {user}'s containers may be promised {quota.cpus:g} CPUs; "
                f"{used_cpus:g} are promised to {_users(owned, 'cpus')}, "
                f"{asked_cpus:g} more asked",
                hint="ask for fewer (--cpus) or remove a container",
            )


def _users(owned: Sequence[tuple[str, Limits]], what: str) -> str:
    names = [name for name, lim in owned if getattr(lim, what)]
    return ", ".join(names) if names else "none"
