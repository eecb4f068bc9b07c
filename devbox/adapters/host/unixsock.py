"""Probes of a local unix socket: does something listen, does it answer an HTTP GET.

For sockets devbox started a server on (a simulated host's dockerd, a devbox service): no
outside library, so a probe costs a connect, not an SDK import.
"""

from __future__ import annotations

import socket
from pathlib import Path


def connects(path: Path, timeout: float = 2.0) -> bool:
    """Whether a server accepts a connection on the unix socket ``path``."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(path))
    except OSError:
        return False
    finally:
        sock.close()
    return True


def http_status(path: Path, url: str, timeout: float = 5.0) -> int | None:
    """Status code of ``GET url`` (HTTP/1.0) on the unix socket ``path``; None when nothing
    answers there (or not in HTTP)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(path))
        sock.sendall(f"GET {url} HTTP/1.0\r\nHost: localhost\r\n\r\n".encode())
        head = b""
        for _ in range(64):  # bounded: the status line is in the first few reads
            chunk = sock.recv(1024)
            if not chunk:
                break
            head += chunk
            if b"\r\n" in head:
                break
    except OSError:
        return None
    finally:
        sock.close()
    parts = head.split(b"\r\n", 1)[0].split()
    if len(parts) >= 2 and parts[0].startswith(b"HTTP/") and parts[1].isdigit():
        return int(parts[1])
    return None
