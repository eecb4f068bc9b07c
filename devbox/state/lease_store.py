"""Persisted NIC records under ``<root>/leases/`` and the locks that guard them.

Records are saved and read through :mod:`devbox.jsonfile`: a reader never sees part of a
record, and any number of threads (a renewal, the daemon's worker) may save one at once.

A store remembers the last good copy of every record it read or saved. When a record on disk
turns unreadable (a disk fault, a bad hand edit), that store goes on with its copy and says so
(:attr:`LeaseStore.unreadable`, an error in the log): the daemon keeps the lease it holds
instead of dropping it and plumbing the container again. A store that never saw the record
raises :class:`devbox.jsonfile.CorruptRecord` from :meth:`LeaseStore.load_key`;
:meth:`LeaseStore.all` leaves it out (the others stay usable) and names it in ``unreadable``.

Three kinds of lock (:mod:`devbox.locks`, ``flock``: dropped by the kernel when the holder
dies), in ``<root>/run/locks/``, never among the records:
- ``net/<container>.lock``: held while plumbing/unplumbing a container (bounded wait);
- ``owner/<container>.<ifname>.lock``: held by whoever runs the DHCP client for that interface
  (the CLI during attach, then the daemon). Detach waits for it, so a lease has one owner;
- ``record/<container>.<ifname>.lock``: held for one read-change-write of a record
  (:meth:`LeaseStore.update`, milliseconds), so a detach's DETACHING mark and the owner's
  renewal, written from two processes, never overwrite one another.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from devbox import jsonfile, locks
from devbox.errors import DevboxError, OperationFailed
from devbox.jsonfile import CorruptRecord
from devbox.model.leases import NicRecord, record_key

_log = logging.getLogger("devbox.leasestore")


class LeaseStore:
    def __init__(self, directory: Path, lock_dir: Path | None = None) -> None:
        self.dir = directory
        self.lock_dir = lock_dir or directory
        self.unreadable: dict[str, str] = {}  # record key -> why (as of the last read)
        self._known: dict[str, NicRecord] = {}  # last good copy of each record seen
        self._mu = threading.Lock()

    def path(self, key: str) -> Path:
        return self.dir / f"{key}.json"

    def load(self, container: str, ifname: str) -> NicRecord | None:
        return self.load_key(record_key(container, ifname))

    def load_key(self, key: str) -> NicRecord | None:
        """The record of ``key``; None if there is none. Unreadable: the last good copy this
        store has, else :class:`CorruptRecord`."""
        path = self.path(key)
        try:
            data = jsonfile.read_json(path)
        except FileNotFoundError:
            with self._mu:
                self._known.pop(key, None)
                self.unreadable.pop(key, None)
            return None
        except CorruptRecord as err:
            return self._fallback(key, err)
        try:
            rec = NicRecord.from_dict(data)
        except (TypeError, ValueError) as err:  # missing field, or a state no record holds
            return self._fallback(key, CorruptRecord(path, f"not a lease record: {err}"))
        self._remember(rec)
        return rec

    def _remember(self, rec: NicRecord) -> None:
        with self._mu:
            self._known[rec.key] = dataclasses.replace(rec)
            self.unreadable.pop(rec.key, None)

    def _fallback(self, key: str, err: CorruptRecord) -> NicRecord:
        with self._mu:
            known = self._known.get(key)
            first = self.unreadable.get(key) != err.message
            self.unreadable[key] = err.message
        if first:
            _log.error(
                "%s%s (%s)",
                err.message,
                "; going on with the copy in memory" if known is not None else "",
                err.hint,
            )
        if known is None:
            raise err
        return dataclasses.replace(known)

    def all(self) -> list[NicRecord]:
        out: list[NicRecord] = []
        if not self.dir.is_dir():
            return out
        seen: set[str] = set()
        for path in sorted(self.dir.glob("*.json")):
            key = path.name[: -len(".json")]
            seen.add(key)
            try:
                rec = self.load_key(key)
            except CorruptRecord:
                continue  # named in self.unreadable
            if rec is not None:
                out.append(rec)
        with self._mu:
            for key in [k for k in self.unreadable if k not in seen]:
                del self.unreadable[key]
        return out

    def for_container(self, container: str) -> list[NicRecord]:
        """``container``'s records: only the files named after it are read (a run over many
        containers asks once each; reading every record each time grew with the square)."""
        import glob

        out: list[NicRecord] = []
        if not self.dir.is_dir():
            return out
        for path in sorted(self.dir.glob(glob.escape(container) + ".*.json")):
            try:
                rec = self.load_key(path.name[: -len(".json")])
            except CorruptRecord:
                continue  # named in self.unreadable
            if rec is not None and rec.container == container:
                out.append(rec)
        return out

    def save(self, rec: NicRecord) -> None:
        jsonfile.write_json(self.path(rec.key), rec.to_dict())
        self._remember(rec)

    @contextmanager
    def _record_lock(self, key: str, timeout: float = 5.0) -> Iterator[None]:
        """The lock of one read-change-write (or delete) of ``key``'s record."""

        def busy(_fd: int) -> DevboxError:
            return OperationFailed(
                f"the record of {key} is being written by another devbox process",
                hint="try again",
            )

        with locks.hold(locks.lock_path(self.lock_dir, "record", key), timeout, busy):
            yield

    def update(
        self, key: str, change: Callable[[NicRecord], NicRecord | None], timeout: float = 5.0
    ) -> NicRecord | None:
        """Read ``key``'s record, ``change`` it, save what it returns (None: save nothing), all
        under the record's lock; returns what was saved. A record that is gone stays gone.
        (``jsonfile.update_json`` does the same with a ``<record>.lock`` beside the record: a
        lease's lock stays under ``run/locks/``, never among the records.)"""
        with self._record_lock(key, timeout):
            current = self.load_key(key)
            if current is None:
                return None
            new = change(current)
            if new is not None:
                self.save(new)
            return new

    def delete(self, key: str) -> None:
        """Remove the record, under its lock: an :meth:`update` under way (a renewal) never
        writes it back."""
        with self._record_lock(key):
            self.path(key).unlink(missing_ok=True)
        with self._mu:
            self._known.pop(key, None)
            self.unreadable.pop(key, None)

    @contextmanager
    def container_lock(self, container: str, timeout: float = 30.0) -> Iterator[None]:
        def busy(_fd: int) -> DevboxError:
            return OperationFailed(
                f"container {container} is being (un)plumbed by another devbox process",
                hint="wait for it to finish, then try again",
            )

        with locks.hold(locks.lock_path(self.lock_dir, "net", container), timeout, busy):
            yield

    @contextmanager
    def owner(self, key: str, timeout: float = 0.0) -> Iterator[None]:
        """Own the DHCP client of ``key``; raises OperationFailed if not free in ``timeout``."""

        def busy(_fd: int) -> DevboxError:
            return OperationFailed(
                f"the lease of {key} is held by another devbox process",
                hint="wait for it to finish, then try again",
            )

        with locks.hold(locks.lock_path(self.lock_dir, "owner", key), timeout, busy):
            yield

    def try_owner(self, key: str) -> int | None:
        """Take ownership of ``key`` and return the fd (close it to let go); None if taken."""
        return locks.try_hold(locks.lock_path(self.lock_dir, "owner", key))
