"""The one way devbox saves and reads its own records (JSON objects, small text files).

- :func:`write_json` / :func:`write_text`: a unique temp file in the same directory
  (``mkstemp``), written, flushed, ``fsync``-ed, renamed over the record, then the directory
  ``fsync``-ed: a reader sees the old record or the new one, never part of one, and a crash
  or power cut leaves one of the two on disk. Any number of threads and processes may save
  one record at once (the last rename wins).
- :func:`read_json`: the record as a dict; a missing file is ``FileNotFoundError`` (or the
  caller's ``missing=`` value), a truncated or corrupt one is :class:`CorruptRecord` naming
  the file and what to do -- never a silent ``{}``. A symlink in its place is refused.
- :func:`update_json`: read, change, save under the record's writer lock (an ``flock`` on the
  sibling ``<name>.lock`` plus a thread lock per path: threads of one process too), so no
  update is lost. A corrupt record is not overwritten.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from devbox.errors import DevboxError, OperationFailed

LOCK_TIMEOUT = 30.0  # a writer holds the lock for one read-modify-write: milliseconds


class CorruptRecord(OperationFailed):
    """A devbox record on disk cannot be read back (truncated, not JSON, not an object)."""

    def __init__(self, path: Path, why: str, hint: str | None = None) -> None:
        self.path = path
        self.why = why
        super().__init__(
            f"{path}: unreadable record ({why})",
            hint
            or f"move it aside (mv {path} {path}.broken) or remove it, then run the "
            "command that made it again",
        )


_RAISE: Any = object()


def read_json(path: Path, *, missing: Any = _RAISE) -> dict[str, Any]:
    """The JSON object in ``path``. Missing: ``FileNotFoundError``, or ``missing`` if given."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        if missing is not _RAISE:
            return dict(missing)
        raise
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise CorruptRecord(path, "it is a symbolic link, not devbox's file") from None
        raise OperationFailed(f"{path}: cannot read: {err.strerror or err}") from err
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise CorruptRecord(path, "not a regular file")
        raw = fh.read()
    if not raw.strip():
        raise CorruptRecord(path, "empty: a save was cut short")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise CorruptRecord(path, f"truncated or not JSON: {err}") from None
    if not isinstance(data, dict):
        raise CorruptRecord(path, f"holds a JSON {type(data).__name__}, not an object")
    return data


def write_text(path: Path, text: str, *, mode: int = 0o644) -> None:
    """Replace ``path`` by ``text`` atomically and durably (see the module doc)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode("utf-8"))
            fh.flush()
            os.fchmod(fh.fileno(), mode)
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def write_json(path: Path, data: dict[str, Any], *, mode: int = 0o644) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n", mode=mode)


def update_json(
    path: Path, fn: Callable[[dict[str, Any]], dict[str, Any]], *, mode: int = 0o644
) -> dict[str, Any]:
    """Under the record's writer lock: ``fn(current)`` (``{}`` if there is no record yet) is
    saved and returned. A corrupt record raises :class:`CorruptRecord` and stays as it is."""
    with locked(path):
        new = fn(read_json(path, missing={}))
        write_json(path, new, mode=mode)
        return new


_guard = threading.Lock()
_thread_locks: dict[str, threading.Lock] = {}


def _thread_lock(path: Path) -> threading.Lock:
    key = os.path.abspath(path)
    with _guard:
        return _thread_locks.setdefault(key, threading.Lock())


@contextmanager
def locked(path: Path, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """The writer lock of record ``path``: a thread lock, then ``flock`` on ``<path>.lock``."""
    from devbox import locks

    def busy(_fd: int) -> DevboxError:
        return OperationFailed(
            f"{path} stayed locked by another devbox process for {timeout:g} s",
            hint="wait for it to finish, then try again",
        )

    tl = _thread_lock(path)
    if not tl.acquire(timeout=timeout):
        raise busy(-1)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with locks.hold(path.with_name(path.name + ".lock"), timeout, busy):
            yield
    finally:
        tl.release()


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
