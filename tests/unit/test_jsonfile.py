"""devbox.jsonfile: the one way devbox saves and reads its JSON records.

Real files on disk, real threads and processes; no mocks.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from devbox.errors import OperationFailed
from devbox.jsonfile import CorruptRecord, read_json, update_json, write_json, write_text

THREADS = 4
SECONDS = 1.5
MAX_SAVES = 5_000  # per thread: bounded in count as well as in time


def _hammer(path: Path, save: Any, load: Any) -> tuple[list[str], list[str], int, int]:
    """THREADS writers and THREADS readers on one record for SECONDS (or MAX_SAVES)."""
    failed_saves: list[str] = []
    failed_reads: list[str] = []
    counts = {"saves": 0, "reads": 0}
    lock = threading.Lock()
    stop = time.monotonic() + SECONDS

    def writer(n: int) -> None:
        for i in range(MAX_SAVES):
            if time.monotonic() >= stop:
                return
            try:
                save(n, i)
            except Exception as err:  # noqa: BLE001 - counted, that is the test
                failed_saves.append(repr(err))
            with lock:
                counts["saves"] += 1

    def reader() -> None:
        for _ in range(MAX_SAVES * 4):
            if time.monotonic() >= stop:
                return
            try:
                if not load():
                    failed_reads.append("empty or missing")
            except Exception as err:  # noqa: BLE001
                failed_reads.append(repr(err))
            with lock:
                counts["reads"] += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(THREADS)]
    threads += [threading.Thread(target=reader) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(SECONDS + 30)
    return failed_saves, failed_reads, counts["saves"], counts["reads"]


def test_concurrent_saves_and_reads_never_fail(tmp_path: Path) -> None:
    path = tmp_path / "rec.json"
    write_json(path, {"writer": -1, "i": -1})
    payload = "x" * 4000  # several pages: a torn write would show

    def save(n: int, i: int) -> None:
        write_json(path, {"writer": n, "i": i, "pad": payload})

    def load() -> dict[str, Any]:
        return read_json(path)

    failed_saves, failed_reads, saves, reads = _hammer(path, save, load)
    assert saves > THREADS and reads > THREADS
    assert failed_saves == [], failed_saves[:3]
    assert failed_reads == [], failed_reads[:3]
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_update_json_loses_no_update_between_threads(tmp_path: Path) -> None:
    path = tmp_path / "counter.json"
    per_thread = 50

    def bump() -> None:
        for _ in range(per_thread):
            update_json(path, lambda d: {**d, "n": int(d.get("n", 0)) + 1})

    threads = [threading.Thread(target=bump) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert read_json(path)["n"] == THREADS * per_thread


def _bump_in_process(path: str, count: int) -> None:
    for _ in range(count):
        update_json(Path(path), lambda d: {**d, "n": int(d.get("n", 0)) + 1})


def test_update_json_loses_no_update_between_processes(tmp_path: Path) -> None:
    path = tmp_path / "counter.json"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_bump_in_process, args=(str(path), 40)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert read_json(path)["n"] == 3 * 40


@pytest.mark.parametrize(
    "text", ["", "{", '{"a": 1', '{"a": 1}\x00\x00', "[1, 2]", "null", '"just a string"']
)
def test_truncated_or_corrupt_file_is_a_typed_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "rec.json"
    path.write_text(text)
    with pytest.raises(CorruptRecord) as exc:
        read_json(path)
    err = exc.value
    assert isinstance(err, OperationFailed)
    assert str(path) in err.message
    assert "\n" not in err.message
    assert err.hint and "remove" in err.hint


def test_half_written_record_is_corrupt_not_empty(tmp_path: Path) -> None:
    path = tmp_path / "rec.json"
    write_json(path, {"key": "value", "list": list(range(100))})
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(CorruptRecord):
        read_json(path)


def test_missing_file_is_its_own_case(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_json(tmp_path / "nope.json")
    assert read_json(tmp_path / "nope.json", missing={}) == {}


def test_update_refuses_to_overwrite_a_corrupt_record(tmp_path: Path) -> None:
    path = tmp_path / "rec.json"
    path.write_text('{"ready": tr')
    with pytest.raises(CorruptRecord):
        update_json(path, lambda d: {**d, "ip": "1"})
    assert path.read_text() == '{"ready": tr'


def test_write_is_durable_and_leaves_nothing_behind(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "rec.json"
    write_json(path, {"a": 1}, mode=0o600)
    assert json.loads(path.read_text()) == {"a": 1}
    assert path.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["rec.json"]
    write_text(tmp_path / "pid", "123\n")
    assert (tmp_path / "pid").read_text() == "123\n"


def test_fsync_reaches_file_and_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Record the real fsync calls (on real descriptors: the temp file's and its directory's),
    by wrapping os.fsync, which still runs."""
    seen: list[str] = []
    real = os.fsync

    def recording(fd: int) -> None:
        seen.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", recording)
    write_json(tmp_path / "rec.json", {"a": 1})
    assert str(tmp_path) in seen  # the directory, after the rename
    assert any(s.startswith(str(tmp_path / ".rec.json.")) for s in seen)  # the temp file


def test_a_symlinked_record_is_refused(tmp_path: Path) -> None:
    (tmp_path / "elsewhere.json").write_text('{"a": 1}')
    (tmp_path / "rec.json").symlink_to(tmp_path / "elsewhere.json")
    with pytest.raises(CorruptRecord):
        read_json(tmp_path / "rec.json")
