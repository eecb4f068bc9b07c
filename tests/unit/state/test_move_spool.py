"""The spool of ``move``: only its maker (or an admin) may use an export or import."""

from __future__ import annotations

from pathlib import Path

import pytest

from devbox.errors import UserError
from devbox.model.owners import Caller
from devbox.paths import Layout
from devbox.state import move_spool

ALICE = Caller(uid=4101, gid=4101, user="alice", groups=frozenset({"devbox"}))
BOB = Caller(uid=4102, gid=4102, user="bob", groups=frozenset({"devbox"}))
ADMIN = Caller(uid=4103, gid=4103, user="carol", admin=True)


def test_only_its_maker_or_an_admin_uses_a_spool(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "root")
    spool_id, folder = move_spool.new(layout, "import", ALICE, {"name": "web1"})
    assert oct(folder.stat().st_mode & 0o777) == "0o700"
    assert move_spool.load(layout, "import", spool_id, ALICE)[1]["name"] == "web1"
    assert move_spool.load(layout, "import", spool_id, ADMIN)[0] == folder
    with pytest.raises(UserError, match="alice's"):
        move_spool.load(layout, "import", spool_id, BOB)
    with pytest.raises(UserError, match="no export"):
        move_spool.load(layout, "export", spool_id, ALICE)  # an import is no export
    for bad in ("../../etc", "", "0123", spool_id + "/.."):
        with pytest.raises(UserError, match="no import"):
            move_spool.load(layout, "import", bad, ALICE)
    move_spool.update(folder, image="x")
    assert move_spool.load(layout, "import", spool_id, ALICE)[1]["image"] == "x"
    move_spool.drop(folder)
    with pytest.raises(UserError, match="no import"):
        move_spool.load(layout, "import", spool_id, ALICE)


def test_an_import_nothing_wrote_to_for_a_day_goes_with_the_next_one(tmp_path: Path) -> None:
    """A move whose client died half-way left its import (an image tar of hundreds of MB):
    the next spool made on the host drops it. An import written to within the day and any
    export (its source's fate is its client's) stay."""
    import os
    import time

    layout = Layout(tmp_path / "root")
    old_id, old = move_spool.new(layout, "import", ALICE, {"name": "web1"})
    (old / ".image.tar.part").write_bytes(b"x" * 10)
    busy_id, _ = move_spool.new(layout, "import", ALICE, {"name": "web2"})
    exp_id, exp = move_spool.new(layout, "export", ALICE, {"name": "web3"})
    hours_ago = time.time() - 2 * move_spool.ABANDONED
    for folder in (old, exp):
        for path in [*folder.iterdir(), folder]:
            os.utime(path, (hours_ago, hours_ago), follow_symlinks=False)
    (layout.moves / "0123456789abcdef").mkdir()  # no readable record: left alone
    (layout.moves / "0123456789abcdef" / "record.json").write_text('{"cut')
    new_id, _ = move_spool.new(layout, "import", BOB, {"name": "web4"})
    kept = [busy_id, exp_id, new_id, "0123456789abcdef"]
    assert sorted(os.listdir(layout.moves)) == sorted(kept)
    assert not old.exists() and old_id not in os.listdir(layout.moves)
