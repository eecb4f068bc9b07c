"""--host auto: the pure choice of a host (devbox.model.placement)."""

from __future__ import annotations

from typing import Any

import pytest

from devbox.errors import UserError
from devbox.model.placement import HostView, choose, unfit

G = 1 << 30


def host(name: str, free: int, largest: int = 30 * G, cpus: int = 8, **who: Any) -> HostView:
    facts = {"memory": {"total": 32 * G, "free": free, "largest": largest}, "cpus": {"total": cpus}}
    whoami = {"user": "alice", "quota": {"containers": 0, "memory": None, "cpus": None}, **who}
    return HostView(name, facts, whoami)


def test_the_host_with_most_free_memory_wins_and_says_why() -> None:
    got = choose([host("local", 4 * G), host("h2", 9 * G), host("h3", 6 * G)], 2 * G)
    assert got.host == "h2"
    assert "most free memory (9g)" in got.reason and "h3: less free memory" in got.reason
    assert got.skipped == {"local": "less free memory", "h3": "less free memory"}
    assert got.to_dict()["memory"] == 2 * G


def test_a_tie_goes_to_the_first_given_local_first() -> None:
    assert choose([host("local", 5 * G), host("h2", 5 * G)], G).host == "local"
    assert choose([host("h2", 5 * G), host("h3", 5 * G)], G).host == "h2"


def test_unreachable_hosts_are_skipped() -> None:
    down = HostView("h2", error="the devbox service is not running")
    got = choose([down, host("local", 3 * G)], G)
    assert got.host == "local" and got.skipped["h2"].startswith("unreachable: the devbox service")


def test_a_full_quota_skips_the_host() -> None:
    full = host(
        "h2",
        20 * G,
        quota={"containers": 2, "memory": None, "cpus": None},
        used={"containers": 2, "memory": 0, "cpus": 0},
    )
    got = choose([full, host("local", 2 * G)], G)
    assert got.host == "local" and "quota full: alice may own 2" in got.skipped["h2"]
    mem = host("h3", 20 * G, quota={"memory": 4 * G}, used={"containers": 1, "memory": 3 * G})
    assert "over quota" in (unfit(mem, 2 * G, None) or "")
    assert unfit(mem, G, None) is None
    # no limit asked: the host's default (all it gives one container) counts
    no_limit = unfit(host("h4", 9 * G, quota={"memory": G}), None, None) or ""
    assert "may be promised 1g, has 0, asks 30g" in no_limit
    bare = HostView("h4", {"memory": {"free": 9 * G}}, {"quota": {"memory": G}})
    assert "ask for --memory" in (unfit(bare, None, None) or "")
    # root has none: what the table says does not count
    root = host("h5", 9 * G, quota={"containers": 1}, used={"containers": 5}, quota_exempt=True)
    assert unfit(root, G, None) is None


def test_the_host_default_counts_against_a_memory_quota() -> None:
    q = host("h2", 9 * G, largest=8 * G, quota={"memory": 4 * G}, used={"memory": 0})
    assert "over quota" in (unfit(q, None, None) or "")
    assert choose([host("h3", G, largest=5 * G)], None).memory == 5 * G


def test_too_big_for_the_host_or_its_free_memory_or_cpus() -> None:
    assert "more than it gives one container" in (
        unfit(host("a", 99 * G, 8 * G), 9 * G, None) or ""
    )
    assert "more than it has free (1g)" in (unfit(host("b", G), 2 * G, None) or "")
    assert "cpus 9 is more than it has (8)" in (unfit(host("c", 9 * G), G, 9.0) or "")


def test_nothing_fits_names_each_host_s_reason() -> None:
    with pytest.raises(UserError) as err:
        choose([host("local", G), HostView("h2", error="refused")], 4 * G)
    msg = err.value.message
    assert "no host fits memory 4g" in msg
    assert (
        "local: memory 4g is more than it has free (1g)" in msg
        and "h2: unreachable: refused" in msg
    )
    assert err.value.hint and "--memory" in err.value.hint
    with pytest.raises(UserError, match="no hosts"):
        choose([], G)


def test_spread_follows_free_memory_per_clone() -> None:
    from devbox.model.placement import spread

    assert spread([host("local", 8 * G), host("h2", 8 * G)], 6, G) == {"local": 3, "h2": 3}
    # twice the free memory: twice the clones
    assert spread([host("local", 4 * G), host("h2", 8 * G)], 6, None) == {"local": 2, "h2": 4}
    # a host that does not answer gets none, the others all
    down = HostView("h2", error="no route")
    assert spread([host("local", 4 * G), down], 3, G) == {"local": 3}


def test_spread_counts_its_own_clones_against_memory_and_quota() -> None:
    from devbox.model.placement import spread

    # h2 has room for two 2g clones, local for three
    assert spread([host("local", 6 * G), host("h2", 5 * G)], 5, 2 * G) == {"local": 3, "h2": 2}
    with pytest.raises(UserError, match="no host takes clone 6 of 6"):
        spread([host("local", 6 * G), host("h2", 5 * G)], 6, 2 * G)
    quota = {"quota": {"containers": 2, "memory": None, "cpus": None}, "owns": []}
    got = spread([host("local", 8 * G, **quota), host("h2", 8 * G, **quota)], 4, G)
    assert got == {"local": 2, "h2": 2}
    with pytest.raises(UserError, match="no host takes clone 5 of 5"):
        spread([host("local", 8 * G, **quota), host("h2", 8 * G, **quota)], 5, G)
