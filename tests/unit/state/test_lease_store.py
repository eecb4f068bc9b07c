"""LeaseStore on real files: concurrent saves of one record (a renewal and the daemon's worker
are two threads of one process), and what a corrupt record does to a store that holds it."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from devbox.jsonfile import CorruptRecord
from devbox.model.leases import NicRecord, NicState
from devbox.state.lease_store import LeaseStore

SECONDS = 1.5
MAX_SAVES = 5_000


def _record(renewals: int = 0) -> NicRecord:
    return NicRecord(
        container="alice",
        container_id="c0ffee",
        ifname="eth1",
        parent="lab0",
        mac="02:00:00:00:00:01",
        mode="dhcp",
        hostname="alice",
        client_id="alice",
        ip="10.0.0.5",
        prefixlen=24,
        renewals=renewals,
        dhcp_lease={"ack": {"options": {"x": "y" * 3000}}},
    )


def test_two_threads_saving_one_lease_never_fail_and_readers_never_see_a_partial_record(
    tmp_path: Path,
) -> None:
    st = LeaseStore(tmp_path / "leases", tmp_path / "locks")
    st.save(_record())
    key = _record().key
    failed_saves: list[str] = []
    failed_reads: list[str] = []
    stop = time.monotonic() + SECONDS

    def saver() -> None:
        for i in range(MAX_SAVES):
            if time.monotonic() >= stop:
                return
            try:
                st.save(_record(i))
            except Exception as err:  # noqa: BLE001 - counted
                failed_saves.append(repr(err))

    def reader() -> None:
        fresh = LeaseStore(tmp_path / "leases", tmp_path / "locks")  # no remembered copy
        for _ in range(MAX_SAVES * 4):
            if time.monotonic() >= stop:
                return
            try:
                if fresh.load_key(key) is None:
                    failed_reads.append("None")
                if not fresh.all():
                    failed_reads.append("all() empty")
            except Exception as err:  # noqa: BLE001
                failed_reads.append(repr(err))

    threads = [threading.Thread(target=saver) for _ in range(2)]
    threads += [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(SECONDS + 30)
    assert failed_saves == [], f"{len(failed_saves)} failed saves, e.g. {failed_saves[:2]}"
    assert failed_reads == [], f"{len(failed_reads)} failed reads, e.g. {failed_reads[:2]}"
    assert not [p.name for p in (tmp_path / "leases").iterdir() if p.name.endswith(".tmp")]


def test_a_corrupt_record_keeps_the_lease_a_store_already_holds(tmp_path: Path) -> None:
    st = LeaseStore(tmp_path / "leases", tmp_path / "locks")
    rec = _record(3)
    st.save(rec)
    st.path(rec.key).write_text('{"container": "alice", "ifn')  # a disk fault, a bad edit
    # the daemon's store remembers the last good record: it keeps the lease it holds
    assert st.load_key(rec.key) == rec
    assert [r.key for r in st.all()] == [rec.key]
    assert rec.key in st.unreadable
    assert str(st.path(rec.key)) in st.unreadable[rec.key]


def test_a_corrupt_record_unknown_to_the_store_is_a_clear_error(tmp_path: Path) -> None:
    st = LeaseStore(tmp_path / "leases", tmp_path / "locks")
    rec = _record()
    st.save(rec)
    fresh = LeaseStore(tmp_path / "leases", tmp_path / "locks")
    fresh.path(rec.key).write_text("")
    with pytest.raises(CorruptRecord) as exc:
        fresh.load_key(rec.key)
    assert str(fresh.path(rec.key)) in exc.value.message
    # listing skips it (other records stay usable) but says which one is unreadable
    assert fresh.all() == []
    assert rec.key in fresh.unreadable
    # a missing record stays a plain None
    assert fresh.load("bob", "eth1") is None


def test_a_record_written_before_the_state_enum_loads(tmp_path: Path) -> None:
    """A lease file as every devbox version wrote it (state a plain JSON string)."""
    st = LeaseStore(tmp_path / "leases", tmp_path / "locks")
    data = {**_record().to_dict(), "state": "static"}
    st.dir.mkdir(parents=True)
    st.path("alice.eth1").write_text(json.dumps(data))
    rec = st.load_key("alice.eth1")
    assert rec is not None and rec.state is NicState.STATIC
    st.save(rec)
    assert json.loads(st.path("alice.eth1").read_text())["state"] == "static"


@pytest.mark.parametrize("state", ["gone", "confused"])
def test_a_record_with_a_state_no_record_holds_is_corrupt(tmp_path: Path, state: str) -> None:
    st = LeaseStore(tmp_path / "leases", tmp_path / "locks")
    st.dir.mkdir(parents=True)
    st.path("alice.eth1").write_text(json.dumps({**_record().to_dict(), "state": state}))
    with pytest.raises(CorruptRecord, match="not a lease record"):
        st.load_key("alice.eth1")
    assert st.all() == [] and "alice.eth1" in st.unreadable


def test_update_changes_the_record_as_it_is_now_under_its_lock(tmp_path: Path) -> None:
    """A detach's DETACHING mark and a renewal by the lease's owner (another process) are
    both read-change-write: each runs under the record's lock, on the record as it is then;
    a record that is gone stays gone; a change that returns None writes nothing."""
    from devbox import locks

    st = LeaseStore(tmp_path / "leases", tmp_path / "locks")
    rec = _record()
    st.save(rec)
    other = LeaseStore(tmp_path / "leases", tmp_path / "locks")  # another process's store
    seen: list[bool] = []

    def mark(current: NicRecord) -> NicRecord:
        seen.append(locks.is_held(tmp_path / "locks", "record", current.key))
        return current.move(NicState.DETACHING)

    renewed = other.load_key(rec.key)
    assert renewed is not None
    renewed.renewals = 7
    other.save(renewed)  # written after this store read it: the mark keeps it
    marked = st.update(rec.key, mark)
    assert seen == [True]
    assert marked is not None and (marked.state, marked.renewals) == (NicState.DETACHING, 7)
    assert st.update(rec.key, lambda cur: None) is None
    on_disk = other.load_key(rec.key)
    assert on_disk is not None and on_disk.state == NicState.DETACHING
    st.delete(rec.key)
    assert st.update(rec.key, mark) is None and other.load_key(rec.key) is None
