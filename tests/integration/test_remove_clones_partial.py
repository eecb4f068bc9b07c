"""``remove --clones-of`` removes the clones in parallel: one that cannot be removed (something
still mounted in its folder, a real mount) is reported by name and the others still go; the
snapshot stays while that one still uses it, and goes with it on the next run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devbox.adapters.docker import containers as dc
from devbox.adapters.host import mounts
from devbox.paths import Layout
from tests.conftest import RUN_ID
from tests.fixtures.devcontainers import remove_clones_and_source
from tests.fixtures.engine import TEST_LABEL
from tests.fixtures.lab import LabEnv

pytestmark = [pytest.mark.integration, pytest.mark.slow]

COUNT = 3


@pytest.fixture
def three_clones(lab: LabEnv, dev_image: str) -> Iterator[tuple[Any, str, Any]]:
    from devbox import config
    from devbox.model.container_plan import MakeOptions
    from devbox.services import clone, container_make

    home = lab.root / "home"
    home.mkdir(exist_ok=True)
    cfg = config.load(
        environ={**lab.env, "DEVBOX_LABELS": f"{TEST_LABEL}={RUN_ID}", "HOME": str(home)},
        files=(),
    )
    src = f"dbxt{RUN_ID}rp"
    try:
        container_make.make(
            cfg, MakeOptions(name=src, branch="main", image=dev_image, checkout=False)
        )
        (Layout(cfg.root).opt_dir(src) / "data").mkdir(parents=True, exist_ok=True)
        run = clone.clone(cfg, src, COUNT)
        assert all(c.ok for c in run.clones), [c.error for c in run.clones]
        yield cfg, src, run
    finally:
        for m in mounts.mounts():
            if m.target.startswith(str(cfg.root) + "/") and m.target.endswith("/pin"):
                mounts.unmount(Path(m.target))
        remove_clones_and_source(cfg, src, images_label=f"{TEST_LABEL}={RUN_ID}")


def test_one_clone_failing_does_not_keep_the_others(
    three_clones: tuple[Any, str, Any], tmp_path: Path
) -> None:
    from devbox.services import clone
    from devbox.state.container_records import home_dir

    cfg, src, run = three_clones
    layout = Layout(cfg.root)
    names = sorted(c.name for c in run.clones)
    stuck = names[1]
    # a mount inside the clone's folder: devbox never deletes through one
    pin = mounts.OverlaySpec(
        lower=tmp_path / "lower",
        upper=tmp_path / "upper",
        work=tmp_path / "work",
        merged=layout.container_dir(stuck) / "pin",
    )
    pin.lower.mkdir()
    assert mounts.mount_overlay(pin)

    result = clone.remove_clones(cfg, src)

    assert list(result.failed) == [stuck], result.failed
    assert "still mounted" in result.failed[stuck]
    assert sorted(result.removed) == [n for n in names if n != stuck]
    for name in result.removed:
        assert dc.inspect(name) is None
        assert not layout.container_dir(name).exists()
    assert result.snapshots_removed == []  # the stuck one's record still uses it
    assert (layout.container_dir(stuck) / "clone.json").exists()
    # the SSH entries (one file for all) went once, after the parallel removals
    ssh_entries = home_dir(cfg) / ".ssh" / "config.d" / "devbox"
    text = ssh_entries.read_text()
    assert all(f"# >>> devbox {n}\n" not in text for n in result.removed), text
    assert f"# >>> devbox {stuck}\n" in text

    assert mounts.unmount(pin.merged)
    again = clone.remove_clones(cfg, src)
    assert (again.removed, again.failed) == ([stuck], {})
    assert again.snapshots_removed == [run.snapshot]
    assert not layout.container_dir(stuck).exists()
    assert f"# >>> devbox {stuck}\n" not in ssh_entries.read_text()
    st = dc.inspect(src)
    assert st is not None and st.running  # SRC is untouched


def test_the_clones_host_keys_go_in_one_rewrite_of_known_hosts(
    three_clones: tuple[Any, str, Any],
) -> None:
    """devbox's known_hosts (one file, fsynced on each rewrite) loses every removed clone's
    names and addresses in one rewrite for the whole ``--clones-of``, not one per clone."""
    from devbox.services import clone
    from devbox.state.container_records import known_hosts, read_state
    from tests import inotify

    cfg, src, run = three_clones
    layout = Layout(cfg.root)
    path = known_hosts(layout)
    gone = {c.name for c in run.clones} | {read_state(layout, c.name)["ip"] for c in run.clones}

    def hosts() -> set[str]:
        lines = [ln.split() for ln in path.read_text().splitlines()]
        return {h for f in lines if f and not f[0].startswith("#") for h in f[0].split(",")}

    assert gone <= hosts()
    # each rewrite renames a temp file of its own over it (jsonfile.write_text)
    replaced = inotify.Watch(path.parent, inotify.IN_MOVED_FROM)
    try:
        result = clone.remove_clones(cfg, src)
        renames = [name for _, name in replaced.events() if name.startswith(f".{path.name}.")]
    finally:
        replaced.close()

    assert sorted(result.removed) == sorted(c.name for c in run.clones), result.failed
    assert len(renames) == 1, renames
    assert not gone & hosts()
    assert src in hosts()  # SRC's entry stays
