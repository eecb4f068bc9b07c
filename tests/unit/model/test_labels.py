"""Container labels of the networking part, and the default root's label."""

from __future__ import annotations

from devbox import config


def test_labels() -> None:
    from devbox.model import labels

    lb = labels.net_labels(parent="eth1", vlan=42, mac="02:00:00:00:00:01")
    assert lb == {
        labels.NET: "dhcp",
        labels.NET_PARENT: "eth1",
        labels.NET_VLAN: "42",
        labels.NET_MAC: "02:00:00:00:00:01",
    }
    assert labels.is_networked(lb) and not labels.is_networked({}) and not labels.is_networked(None)
    # no devbox.root label: the default root's, never another root's
    assert labels.is_networked(lb, "/opt/containers")
    assert not labels.is_networked(lb, "/srv/other-root")
    assert labels.is_networked({**lb, labels.ROOT: "/srv/other-root"}, "/srv/other-root")


def test_default_root_label_matches_the_setting() -> None:
    from devbox.model import labels

    assert str(config.load(environ={}, files=())["root"]) == labels.DEFAULT_ROOT
