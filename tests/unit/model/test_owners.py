"""Who may act on a container: its owner, root, the admin group."""

from __future__ import annotations

import pytest

from devbox.errors import UserError
from devbox.model import labels, owners
from devbox.model.owners import Caller

ALICE = Caller(uid=1001, gid=1001, user="alice")
BOB = Caller(uid=1002, gid=1002, user="bob")
ADMIN = Caller(uid=1003, gid=1003, user="ann", admin=True)


def test_owner_labels_round_trip() -> None:
    lbls = owners.owner_labels(ALICE)
    assert owners.owner_of(lbls) == ("alice", 1001)
    assert owners.owner_of({}) == ("root", 0)  # made before owners were recorded
    assert Caller.from_dict(ALICE.to_dict()) == ALICE


def test_only_the_owner_or_an_admin_may_act() -> None:
    lbls = owners.owner_labels(ALICE)
    assert owners.may_act(ALICE, lbls) and owners.may_act(ADMIN, lbls)
    assert not owners.may_act(BOB, lbls)
    assert not owners.may_act(BOB, {})  # root's
    with pytest.raises(UserError, match="container box belongs to alice"):
        owners.require_may_act(BOB, "box", lbls, "stop")
    owners.require_may_act(owners.ROOT, "box", lbls, "stop")


def test_admin_only_choices() -> None:
    with pytest.raises(UserError, match="is for admins"):
        owners.require_admin(BOB, "choosing the LAN")
    owners.require_admin(ADMIN, "choosing the LAN")
    assert labels.OWNER in owners.owner_labels(BOB)
