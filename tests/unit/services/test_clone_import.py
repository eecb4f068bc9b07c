"""clone --hosts at the receiving host: what it takes from another host's labels."""

from __future__ import annotations

import pytest

from devbox.errors import UserError
from devbox.model import labels
from devbox.services.clone_import import _check_net_labels, _strings


def test_the_senders_labels_are_strings_and_its_vlan_and_ifname_are_checked() -> None:
    assert _strings({"a": "b"}, "labels") == {"a": "b"}
    for bad in (None, [], {"a": 1}, {1: "b"}):
        with pytest.raises(UserError, match="'labels' must be an object of strings"):
            _strings(bad, "labels")
    _check_net_labels({labels.VLAN: "42", labels.IFNAME: "eth1"})
    _check_net_labels({})
    for bad in ({labels.VLAN: "4095"}, {labels.VLAN: "1; rm"}, {labels.IFNAME: "../x"},
                {labels.IFNAME: "a" * 16}):  # fmt: skip
        with pytest.raises(UserError):
            _check_net_labels(bad)
