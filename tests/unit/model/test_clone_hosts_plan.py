"""clone --hosts, planned: which hosts, which names where, the layers left out."""

from __future__ import annotations

import pytest

from devbox.errors import UserError
from devbox.model import clone_hosts_plan as plan


def test_parse_hosts_auto_a_list_and_the_refusals() -> None:
    assert plan.parse_hosts("auto", ["h2"]) is None
    assert plan.parse_hosts(" local,h2 ", ["h2", "h3"]) == ["local", "h2"]
    assert plan.parse_hosts("h2", ["h2"]) == ["h2"]
    with pytest.raises(UserError, match="no host named 'nosuch'") as err:
        plan.parse_hosts("local,nosuch", ["h2"])
    assert err.value.hint and "hosts list" in err.value.hint
    for bad, said in (
        ("", "comma-separated"),
        ("local,,h2", "comma-separated"),
        ("local,local", "more than once"),
        ("auto,h2", "goes alone"),
    ):
        with pytest.raises(UserError, match=said):
            plan.parse_hosts(bad, ["h2"])


def test_assign_hands_out_names_in_host_order() -> None:
    names = [f"src-c{i}" for i in range(1, 7)]
    got = plan.assign(names, {"h2": 2, "local": 4}, ["local", "h2"])
    assert got == {"local": names[:4], "h2": names[4:]}
    assert plan.assign(names[:3], {"h2": 3}, ["local", "h2"]) == {"h2": names[:3]}
    with pytest.raises(ValueError):
        plan.assign(names, {"local": 2}, ["local"])
    with pytest.raises(ValueError):
        plan.assign(names, {"h9": 6}, ["local"])


def test_common_layers_is_what_every_destination_holds() -> None:
    assert plan.common_layers([["a", "b", "c"], ["a", "b", "x"]]) == ["a", "b"]
    assert plan.common_layers([["a", "b"]]) == ["a", "b"]
    assert plan.common_layers([["a", "b"], []]) == []
    assert plan.common_layers([["b"], ["a", "b"]]) == []
    assert plan.common_layers([]) == []


def test_union_names_spans_every_host() -> None:
    assert plan.union_names({"local": ["a", "s-c1"], "h2": ["s-c2"]}) == {"a", "s-c1", "s-c2"}
