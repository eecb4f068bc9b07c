"""Lock names of different kinds never collide (real flock on real files)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from pathlib import Path

import pytest

from devbox import locks
from devbox.errors import UserError
from devbox.locks import name_lock
from devbox.state.lease_store import LeaseStore


def test_making_net_foo_does_not_block_foos_network(tmp_path: Path) -> None:
    lock_dir = tmp_path / "run" / "locks"
    st = LeaseStore(tmp_path / "leases", lock_dir)
    with locks.name_lock(lock_dir, "net-foo", "making"):
        with st.container_lock("foo", timeout=0.0):
            pass
        with st.owner("foo.eth1", timeout=0.0):
            pass


def test_foos_network_lock_does_not_block_making_net_foo(tmp_path: Path) -> None:
    lock_dir = tmp_path / "run" / "locks"
    st = LeaseStore(tmp_path / "leases", lock_dir)
    with st.container_lock("foo", timeout=0.0), st.owner("net-foo", timeout=0.0):
        with locks.name_lock(lock_dir, "net-foo", "making"):
            pass
        with locks.name_lock(lock_dir, "foo", "making"):
            pass


def test_owner_and_container_locks_of_one_name_are_distinct(tmp_path: Path) -> None:
    st = LeaseStore(tmp_path / "leases", tmp_path / "locks")
    with st.container_lock("a.b", timeout=0.0):
        with st.owner("a.b", timeout=0.0):
            pass


def test_same_name_same_kind_still_excludes(tmp_path: Path) -> None:
    with locks.name_lock(tmp_path, "foo"):
        with pytest.raises(UserError) as exc:
            with locks.name_lock(tmp_path, "foo"):
                pass
    assert "another devbox command" in exc.value.message


@pytest.mark.parametrize(
    ("a", "b"), [("a/b", "a%2Fb"), ("..", "%2E%2E"), ("x.lock", "x"), ("", "%"), ("a", "A")]
)
def test_lock_paths_are_injective_and_stay_in_their_kind_dir(
    tmp_path: Path, a: str, b: str
) -> None:
    pa, pb = locks.lock_path(tmp_path, "name", a), locks.lock_path(tmp_path, "name", b)
    assert pa != pb
    for p in (pa, pb):
        assert p.parent == tmp_path / "name"


def test_is_held_sees_another_holder(tmp_path: Path) -> None:
    assert not locks.is_held(tmp_path, "name", "foo")
    with locks.name_lock(tmp_path, "foo"):
        assert locks.is_held(tmp_path, "name", "foo")
        assert not locks.is_held(tmp_path, "net", "foo")
    assert not locks.is_held(tmp_path, "name", "foo")


def _hold(lock_dir: str, ready: multiprocessing.synchronize.Event) -> None:  # type: ignore[name-defined]
    with name_lock(Path(lock_dir), "alice"):
        ready.set()
        time.sleep(30)


def test_lock_refuses_second_holder_and_dies_with_holder(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    ready = ctx.Event()
    proc = ctx.Process(target=_hold, args=(str(tmp_path), ready))
    proc.start()
    try:
        assert ready.wait(10)
        with pytest.raises(UserError, match=f"pid {proc.pid}"), name_lock(tmp_path, "alice"):
            pass
        with name_lock(tmp_path, "bob"):
            pass
    finally:
        assert proc.pid is not None
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(10)
    with name_lock(tmp_path, "alice"):
        pass
