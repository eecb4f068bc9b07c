"""The collection of snapshots nothing uses: only this root's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devbox import config
from devbox.adapters.docker import snapshots
from devbox.services import clone_storage


def test_another_roots_fresh_snapshot_is_not_collected(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """One engine, two roots: root B froze SRC and is about to make its clones (no clone
    record, no container uses the snapshot yet). A remove --clones-of in root A collected
    B's snapshot image, and every clone of B failed: "image not found" (seen in the clone
    bench beside another engineer's remove bench). Root A collects its own leftovers only."""
    ours, theirs = tmp_path / "a" / "root", tmp_path / "b" / "root"

    def image(snap: str, root: Path | None) -> dict[str, Any]:
        lbls = {"devbox.role": "snapshot", "devbox.snapshot": snap}
        if root is not None:
            lbls["devbox.root"] = str(root)
        return {"Labels": lbls}

    images = [image("a-left", ours), image("b-fresh", theirs), image("nobody", None)]
    removed: list[str] = []

    def remove_image(ref: str) -> bool:
        removed.append(ref)
        return True

    monkeypatch.setattr(snapshots, "images_labelled", lambda label: images)
    monkeypatch.setattr(snapshots, "containers_using", lambda label: [])
    monkeypatch.setattr(snapshots, "remove_image", remove_image)
    cfg = config.load(environ={"DEVBOX_ROOT": str(ours)}, files=())
    assert clone_storage.gc_snapshots(cfg) == ["a-left"]
    assert removed and all("a-left" in ref for ref in removed)


def test_a_snapshot_held_by_its_clone_run_is_not_collected(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The same root, two jobs: a clone run froze SRC (its clones' records do not exist yet)
    while another job collects snapshots: the run's in-use lock keeps it; once the run lets
    go (its clones made, or none), it is collected like any unused one."""
    import os

    root = tmp_path / "root"
    removed: list[str] = []

    def remove_image(ref: str) -> bool:
        removed.append(ref)
        return True

    image = {
        "Labels": {"devbox.role": "snapshot", "devbox.snapshot": "s1", "devbox.root": str(root)}
    }
    monkeypatch.setattr(snapshots, "images_labelled", lambda label: [image])
    monkeypatch.setattr(snapshots, "containers_using", lambda label: [])
    monkeypatch.setattr(snapshots, "remove_image", remove_image)
    cfg = config.load(environ={"DEVBOX_ROOT": str(root)}, files=())
    from devbox.paths import Layout

    hold = clone_storage.hold_snapshot(Layout(root), "s1")
    assert hold is not None
    try:
        assert clone_storage.gc_snapshots(cfg) == []
        assert removed == []
    finally:
        os.close(hold)
    assert clone_storage.gc_snapshots(cfg) == ["s1"]
