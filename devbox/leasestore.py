"""Persisted NIC records under ``<root>/leases/`` and the locks that guard them.

Two kinds of lock, both ``flock`` (dropped by the kernel when the holder dies):
Lock files live in ``<root>/run/locks/`` (``net-`` prefix), never among the records:
- ``net-<container>.lock``: held while plumbing/unplumbing a container (blocking, bounded wait);
- ``net-<container>.<ifname>.owner``: held by whoever runs the DHCP client for that interface (the
  CLI during attach, then the daemon). Detach waits for it, so a lease has one owner at a time.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from devbox.errors import OperationFailed
from devbox.leases import NicRecord, record_key


class LeaseStore:
    def __init__(self, directory: Path, lock_dir: Path | None = None) -> None:
        self.dir = directory
        self.lock_dir = lock_dir or directory

    def path(self, key: str) -> Path:
        return self.dir / f"{key}.json"

    def load(self, container: str, ifname: str) -> NicRecord | None:
        return self.load_key(record_key(container, ifname))

    def load_key(self, key: str) -> NicRecord | None:
        try:
            data = json.loads(self.path(key).read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return None
        try:
            return NicRecord.from_dict(data)
        except TypeError:
            return None

    def all(self) -> list[NicRecord]:
        out: list[NicRecord] = []
        if not self.dir.is_dir():
            return out
        for path in sorted(self.dir.glob("*.json")):
            rec = self.load_key(path.name[: -len(".json")])
            if rec is not None:
                out.append(rec)
        return out

    def for_container(self, container: str) -> list[NicRecord]:
        return [r for r in self.all() if r.container == container]

    def save(self, rec: NicRecord) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        target = self.path(rec.key)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(rec.to_dict(), indent=2, sort_keys=True, default=str) + "\n")
        os.replace(tmp, target)

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    @contextmanager
    def container_lock(self, container: str, timeout: float = 30.0) -> Iterator[None]:
        with _flock(self.lock_dir / f"net-{container}.lock", timeout,
                    f"container {container} is being (un)plumbed by another devbox process"):
            yield

    @contextmanager
    def owner(self, key: str, timeout: float = 0.0) -> Iterator[None]:
        """Own the DHCP client of ``key``; raises OperationFailed if not free in ``timeout``."""
        with _flock(self.lock_dir / f"net-{key}.owner", timeout,
                    f"the lease of {key} is held by another devbox process"):
            yield

    def try_owner(self, key: str) -> int | None:
        """Take ownership of ``key`` and return the fd (close it to let go); None if taken."""
        self.lock_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_dir / f"net-{key}.owner",
                     os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return fd


@contextmanager
def _flock(path: Path, timeout: float, busy: str) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise OperationFailed(busy, hint="wait for it to finish, then try "
                                                     "again") from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)
