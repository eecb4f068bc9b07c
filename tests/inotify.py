"""What the kernel saw happen to a file or folder (inotify through libc): a test's way to see
that a process opened, or replaced, a file, without asking that process."""

from __future__ import annotations

import ctypes
import os
import struct
from pathlib import Path

IN_OPEN = 0x20
IN_MOVED_FROM = 0x40  # the old name: each rename of a new temp file is its own event
IN_MOVED_TO = 0x80  # the new name: the kernel merges a run of identical unread ones
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len (then the name, NUL-padded)


class Watch:
    def __init__(self, path: Path, mask: int) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        self.fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        if libc.inotify_add_watch(self.fd, str(path).encode(), mask) < 0:
            err = ctypes.get_errno()
            os.close(self.fd)
            raise OSError(err, f"inotify_add_watch {path}")

    def events(self) -> list[tuple[int, str]]:
        """(mask, name) of every event since the last call; name is "" for the watched file."""
        out: list[tuple[int, str]] = []
        for _ in range(10_000):
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                break
            at = 0
            while at + _EVENT.size <= len(data):
                _, mask, _, size = _EVENT.unpack_from(data, at)
                raw = data[at + _EVENT.size : at + _EVENT.size + size]
                out.append((mask, raw.rstrip(b"\0").decode(errors="replace")))
                at += _EVENT.size + size
        return out

    def close(self) -> None:
        os.close(self.fd)
