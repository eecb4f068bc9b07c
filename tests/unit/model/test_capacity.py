"""Room for VM-style containers under the kernel's per-user inotify cap."""

from __future__ import annotations

import pytest

from devbox.errors import NotReadyError
from devbox.model import capacity


def test_room_counts_whole_containers() -> None:
    per = capacity.INSTANCES_PER_CONTAINER
    assert capacity.InotifyRoom(128, 0).containers == 128 // per
    assert capacity.InotifyRoom(128, 128 - per).containers == 1
    assert capacity.InotifyRoom(128, 128 - per + 1).containers == 0
    assert capacity.InotifyRoom(128, 500).containers == 0  # never negative
    assert "room for about 18" in capacity.InotifyRoom(128, 0).describe()


def test_require_room_refuses_with_the_fix() -> None:
    room = capacity.InotifyRoom(128, 100)  # room for 4
    capacity.require_room(room, 4, "cloning src 4 time(s)")
    with pytest.raises(NotReadyError) as err:
        capacity.require_room(room, 5, "cloning src 5 time(s)")
    assert "room for about 4" in str(err.value)
    assert err.value.hint and "fs.inotify.max_user_instances=1024" in err.value.hint
