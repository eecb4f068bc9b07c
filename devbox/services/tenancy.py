"""A shared host's rules, applied by the service before it acts for a caller: a user acts on
their own containers only (root and the admin group on all), and stays within their quota."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from devbox.adapters.docker import containers as dc
from devbox.config import Config
from devbox.model import labels, owners, quotas
from devbox.model import limits as limits_mod
from devbox.model.container_plan import same_root
from devbox.model.owners import Caller
from devbox.services import devbox_container


def require_container(cfg: Config, caller: Caller, name: str, action: str) -> dc.ContainerState:
    """``name``'s container of this root, which ``caller`` may ``action`` (UserError
    "container X belongs to Y" otherwise)."""
    st = devbox_container.require(name, cfg)
    owners.require_may_act(caller, name, st.labels, action)
    return st


def owned(cfg: Config, caller: Caller) -> list[tuple[str, limits_mod.Limits]]:
    """(name, limits) of every container of this root ``caller`` owns, stopped ones too."""
    out = []
    for st in dc.list_labeled(labels.ROLE, all_states=True):
        if not same_root(st.labels.get(labels.ROOT, ""), cfg.root):
            continue
        if owners.owner_of(st.labels)[1] == caller.uid:
            out.append((st.name, limits_mod.from_labels(st.labels)))
    return sorted(out)


def quota_of(cfg: Config, user: str) -> quotas.Quota:
    """The settings' quota with the per-user table's entry for ``user`` over it."""
    default = quotas.from_settings(
        cfg.integer("quota.containers"), cfg.text("quota.memory"), cfg.text("quota.cpus")
    )
    return quotas.for_user(default, _table(cfg.path("quota.users")), user)


def _table(path: Path) -> dict[str, Any]:
    from devbox.textfile import read_user_toml

    return read_user_toml(path, "quota table", "it must be a TOML file of [user] tables")


def check_quota(cfg: Config, caller: Caller, new: list[limits_mod.Limits]) -> None:
    """UserError when ``new`` containers would take ``caller`` past their quota. Root has
    none; an admin's quota applies to containers they make for themselves."""
    if caller.uid == 0:
        return
    quota = quota_of(cfg, caller.user)
    if quota.unlimited:
        return
    quotas.check(quota, caller.user, owned(cfg, caller), new)
