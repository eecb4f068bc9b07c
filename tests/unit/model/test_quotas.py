"""Per-user quotas: the settings' default, the per-user table over it, the refusals."""

from __future__ import annotations

import pytest

from devbox.errors import UserError
from devbox.model import quotas
from devbox.model.limits import Limits

G = 1024**3


def test_settings_and_table() -> None:
    default = quotas.from_settings(3, "4g", "none")
    assert default == quotas.Quota(containers=3, memory=4 * G, cpus=None)
    assert quotas.for_user(default, {}, "alice") == default
    bob = quotas.for_user(default, {"bob": {"containers": 10, "memory": "none"}}, "bob")
    assert bob == quotas.Quota(containers=10, memory=None, cpus=None)
    assert quotas.for_user(default, {"bob": {"cpus": 2}}, "bob").cpus == 2
    assert quotas.from_settings(0, "none", "none").unlimited


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"bob": 3}, "is not a table"),
        ({"bob": {"disk": 1}}, "unknown keys disk"),
        ({"bob": {"memory": "lots"}}, "memory"),
    ],
)
def test_bad_table_entries(table: dict[str, object], message: str) -> None:
    with pytest.raises(UserError, match=message):
        quotas.for_user(quotas.Quota(), table, "bob")


def test_container_count() -> None:
    quota = quotas.Quota(containers=2)
    quotas.check(quota, "bob", [("a", Limits())], [Limits()])
    with pytest.raises(UserError, match=r"bob may own 2 container\(s\); 1 already \(a\), 2 more"):
        quotas.check(quota, "bob", [("a", Limits())], [Limits(), Limits()])


def test_memory_and_cpus_promised() -> None:
    quota = quotas.Quota(memory=4 * G, cpus=4)
    owned = [("a", Limits(memory=3 * G, cpus=1)), ("b", Limits(memory=None, cpus=None))]
    quotas.check(quota, "bob", owned, [Limits(memory=G, cpus=3)])
    with pytest.raises(UserError, match="promised 4g of memory; 3g promised to a, 2g more"):
        quotas.check(quota, "bob", owned, [Limits(memory=2 * G, cpus=1)])
    with pytest.raises(UserError, match=r"promised 4 CPUs; 1 promised to a, 3\.5 more"):
        quotas.check(quota, "bob", owned, [Limits(memory=G, cpus=3.5)])
    with pytest.raises(UserError, match="every container needs a memory limit"):
        quotas.check(quota, "bob", owned, [Limits(cpus=1)])
