"""Snapshot planning: tags, names of the image and folder, the listing."""

from __future__ import annotations

import time

import pytest

from devbox.errors import UserError
from devbox.model import labels
from devbox.model import snapshot_plan as plan


@pytest.mark.parametrize("tag", ["t1", "20261201-181500", "before.fix_2", "A" * 64])
def test_good_tags(tag: str) -> None:
    assert plan.validate_tag(tag) == tag


@pytest.mark.parametrize(
    "tag",
    ["", ".", "..", "../x", "a/b", "-x", "_running", "x y", "a" * 65, "t\n", "é", "x:y"],
)
def test_bad_tags_are_a_user_error(tag: str) -> None:
    with pytest.raises(UserError) as err:
        plan.validate_tag(tag)
    assert err.value.exit_code == 2
    assert "\n" not in err.value.message


def test_the_default_tag_is_the_time_and_a_valid_tag() -> None:
    now = time.mktime((2026, 12, 1, 18, 15, 0, 0, 0, -1))
    assert plan.default_tag(now) == "20261201-181500"
    assert plan.validate_tag(plan.before_restore_tag(now)) == "before-restore-20261201-181500"


def test_names_of_the_image_and_the_running_tag() -> None:
    assert plan.image_ref("alice-main", "t1") == "devbox-snapshot/alice-main:t1"
    assert plan.running_ref("alice-main") == "devbox-snapshot/alice-main:_running"
    with pytest.raises(UserError):  # no user's snapshot can be the running tag
        plan.validate_tag(plan.RUNNING_TAG)
    assert "." in plan.aside_name("alice-main", 1.0)  # never a devbox container name


def test_image_labels_scope_the_snapshot_and_are_not_a_clones() -> None:
    got = plan.image_labels("a", "t", "/r", {labels.TEST_RUN: "x", labels.ROLE: "dockeruser"})
    assert got[labels.ROLE] == plan.ROLE != "snapshot"  # the clone's gc never takes it
    assert got[plan.OF] == "a" and got[plan.TAG] == "t" and got[labels.ROOT] == "/r"
    assert got[labels.TEST_RUN] == "x"
    assert got["devbox.build.kind"] == plan.ROLE  # not listed as a built image
    assert set(plan.image_filters("a", "/r")) == {
        f"{labels.ROLE}={plan.ROLE}",
        f"{plan.OF}=a",
        f"{labels.ROOT}=/r",
    }


def test_a_snapshot_of_another_owner_is_refused_for_restore() -> None:
    assert not plan.owner_mismatch({"owner_uid": 1000}, 1000)
    assert plan.owner_mismatch({"owner_uid": 1000}, 1001)
    assert plan.owner_mismatch({}, 0)  # no record of the owner: not restored
    assert plan.owner_mismatch({"owner_uid": "x"}, 0)


def test_rows_are_oldest_first_and_show_half_made_ones() -> None:
    records = {"b": {"created": 20.0, "method": "reflink"}, "a": {"created": 10.0}}
    rows = plan.rows(records, {"a": "sha256:" + "1" * 64, "orphan": "sha256:2"}, {"a": 4096})
    assert [r.tag for r in rows] == ["orphan", "a", "b"]
    a = rows[1].to_dict()
    assert a["opt_bytes"] == 4096 and a["image_id"].startswith("sha256:")
    assert rows[2].image_id is None and rows[2].method == "reflink"
    cells = plan.cells(a)
    assert cells[0] == "a" and cells[2] == "4.0 KiB" and cells[3] == "1" * 12
    assert plan.cells(rows[2].to_dict())[3] == "(missing)"
    assert len(cells) == len(plan.COLUMNS)
