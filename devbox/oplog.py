"""Operation logs: timestamped lines in ``<root>/logs/<name>.log`` (or ``devbox.log``).

Secrets registered with :func:`register_secret` are masked in every line written.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TextIO

_SECRETS: set[str] = set()
_LOCK = threading.Lock()


def register_secret(secret: str) -> None:
    """Mask this string in every log line from now on (passwords, tickets, tokens)."""
    if secret and len(secret) >= 3:
        _SECRETS.add(secret)


def redact(text: str) -> str:
    for secret in _SECRETS:
        text = text.replace(secret, "********")
    return text


def _stamp() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(now)) + f".{int(now % 1 * 1000):03d}"


class OpLog:
    """Append-only log for one container or for host-wide work."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._fh: TextIO | None = None

    def _open(self) -> TextIO | None:
        if self.path is None:
            return None
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = self.path.open("a", encoding="utf-8")
        return self._fh

    def write(self, message: str) -> None:
        fh = self._open()
        if fh is None:
            return
        lines = redact(message).rstrip("\n").splitlines() or [""]
        with _LOCK:
            for line in lines:
                fh.write(f"{_stamp()} {line}\n")
            fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> OpLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


NULL_LOG = OpLog(None)
