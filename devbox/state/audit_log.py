"""The service's audit log: one JSON line per request that changes something (who, what,
on which container, how it ended, how long it took), appended to ``<root>/logs/audit.log``
(0600). Secrets never reach it: the caller gives the record only what is safe to keep."""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

from devbox.paths import Layout

# fields of a request body that are never written down
SECRET_FIELDS = frozenset({"password", "public_keys", "token", "secret", "ticket"})

_LOCK = threading.Lock()


def redact(body: dict[str, Any]) -> dict[str, Any]:
    """The body with every secret field hidden, in nested objects too (``p4.ticket``)."""
    return {
        k: "<hidden>" if k in SECRET_FIELDS else redact(v) if isinstance(v, dict) else v
        for k, v in body.items()
    }


def append(layout: Layout, record: dict[str, Any]) -> None:
    """Append one record (with the time) as a JSON line; O_APPEND, so lines from several
    processes never interleave."""
    line = json.dumps({"time": round(time.time(), 3), **record}, separators=(",", ":")) + "\n"
    path = layout.audit_log
    path.parent.mkdir(parents=True, exist_ok=True)
    with _LOCK:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)


def read(layout: Layout) -> list[dict[str, Any]]:
    try:
        text = layout.audit_log.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines() if line.strip()]
