"""The plan of ``move``: stages, what each failure rolls back, the destination's labels."""

from __future__ import annotations

import pytest

from devbox.errors import UserError
from devbox.model import labels, move_plan


def test_a_move_goes_to_another_host() -> None:
    move_plan.check_hosts("local", "h2")
    with pytest.raises(UserError, match="on local already"):
        move_plan.check_hosts("local", "local")
    with pytest.raises(UserError, match="needs a destination"):
        move_plan.check_hosts("h2", "")


def test_rollback_of_each_stage() -> None:
    got = {stage: move_plan.rollback_for(stage) for stage in move_plan.STAGES}
    assert got[move_plan.RESERVE].actions == ()  # nothing made anywhere yet
    assert got[move_plan.EXPORT].actions == (move_plan.DROP_IMPORT,)
    for stage in (move_plan.SEND_IMAGE, move_plan.SEND_OPT, move_plan.IMPORT):
        assert got[stage].actions == (move_plan.DROP_IMPORT, move_plan.RESTORE_SOURCE)
    assert all(got[s].source_kept for s in move_plan.STAGES if s != move_plan.REMOVE)
    # once the copy answers, nothing is undone: it is the live one; the person is told
    last = got[move_plan.REMOVE]
    assert last.actions == () and not last.source_kept and "destination" in last.warning
    assert move_plan.STAGES.index(move_plan.IMPORT) < move_plan.STAGES.index(move_plan.REMOVE)
    with pytest.raises(ValueError):
        move_plan.rollback_for("nonsense")


def test_destination_labels_are_its_own_root_opt_owner_and_mac() -> None:
    source = {
        labels.ROLE: "dockeruser",
        labels.KIND: "dev",
        labels.BRANCH: "demo",
        labels.ROOT: "/src/root",
        labels.OPT_DIR: "/src/root/containers/a/opt",
        labels.OWNER: "alice",
        labels.OWNER_UID: "1000",
        labels.NET_PARENT: "eth9",
        labels.NET_MAC: "02:00:00:00:00:01",
        labels.NET_IP: "10.0.0.5/24",  # static address of the source: never carried
        labels.CLONE_OF: "src",
        labels.TEST_RUN: "r1",
        labels.LIMIT_MEMORY: "1073741824",
        "other.label": "x",
    }
    out = move_plan.destination_labels(
        source,
        root="/dst/root",
        opt_dir="/dst/root/containers/a/opt",
        mac="02:00:00:00:00:02",
        parent="lan0",
        owner={labels.OWNER: "bob", labels.OWNER_UID: "1001"},
        image_labels={labels.CLONE_OF: "src", labels.ROOT: "/src/root", labels.NET_IP: "x"},
    )
    assert out[labels.ROOT] == "/dst/root" and out[labels.OPT_DIR].startswith("/dst/root")
    assert out[labels.OWNER] == "bob" and out[labels.OWNER_UID] == "1001"
    assert out[labels.NET_MAC] == "02:00:00:00:00:02" and out[labels.NET_PARENT] == "lan0"
    assert out[labels.BRANCH] == "demo" and out[labels.TEST_RUN] == "r1"
    assert out[labels.LIMIT_MEMORY] == "1073741824" and out[labels.NET] == "dhcp"
    # what the commit copied into the image is blanked, not inherited
    assert out[labels.CLONE_OF] == "" and out[labels.NET_IP] == ""
    assert "other.label" not in out


def test_same_opt_compares_members_and_bytes() -> None:
    assert move_plan.same_opt({"entries": 3, "bytes": 10}, {"entries": 3, "bytes": 10})
    assert not move_plan.same_opt({"entries": 3, "bytes": 10}, {"entries": 2, "bytes": 10})
    assert not move_plan.same_opt({}, {"entries": 0, "bytes": 0})
