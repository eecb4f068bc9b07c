"""HTTP/1.1 for the CLI's side of the API, on the standard library's ``http.client``: a few
kept-alive connections over one kind of stream socket (the service's unix socket, an SSH
channel to another host's), reused once a reply has been read to its end, the way the docker
SDK's unix-socket transport uses urllib3's pool. urllib3 itself cost ~50 ms of every
command's start-up (its TLS and URL machinery; none of it is used here).
"""

from __future__ import annotations

import http.client
import select
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

# the stream socket of a new connection: a socket, or what acts as one for http.client
# (sendall, makefile('rb') with read1, fileno for select, close)
Opener = Callable[[float | None], Any]


class _Connection(http.client.HTTPConnection):
    """An HTTP connection whose socket comes from ``opener`` (``Host: localhost``)."""

    def __init__(self, opener: Opener, timeout: float | None) -> None:
        super().__init__("localhost", timeout=timeout)
        self._opener = opener
        self._seconds = timeout

    def connect(self) -> None:
        self.sock = self._opener(self._seconds)


class Response:
    """One reply: ``status``, ``data`` (the whole body), ``read()``, ``stream(amt)`` (the body
    as it arrives) and ``release_conn()`` (the connection back to the pool when the body was
    read to its end, else closed). ``data`` and ``read()`` release it themselves."""

    def __init__(self, pool: Pool, conn: _Connection, raw: http.client.HTTPResponse) -> None:
        self._pool = pool
        self._conn: _Connection | None = conn
        self._raw = raw
        self.status = raw.status
        self.headers = raw.headers
        self._body: bytes | None = None

    @property
    def data(self) -> bytes:
        if self._body is None:
            self._body = self.read()
        return self._body

    def read(self) -> bytes:
        try:
            return self._raw.read()
        finally:
            self.release_conn()

    def stream(self, amt: int = 65536) -> Iterator[bytes]:
        """The body in pieces of at most ``amt`` bytes, each as soon as it is there (a
        streamed job's events arrive one chunk at a time)."""
        while chunk := self._raw.read1(amt):
            yield chunk

    def release_conn(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self._raw.isclosed() and not self._raw.will_close:
            self._pool.put_back(conn)
        else:
            self._raw.close()
            conn.close()


class Pool:
    """Connections made with ``opener``; at most ``keep`` idle ones are kept. Thread-safe."""

    def __init__(self, opener: Opener, timeout: float | None, keep: int = 4) -> None:
        self._opener = opener
        self._timeout = timeout
        self._keep = keep
        self._idle: list[_Connection] = []
        self._lock = threading.Lock()

    def request(
        self,
        method: str,
        url: str,
        body: bytes | Iterable[bytes] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        """Send a request (an iterable body goes chunked) and read the reply's head. Socket
        errors raise OSError, a broken reply http.client.HTTPException."""
        conn = self._take()
        try:
            conn.request(method, url, body=body, headers=headers or {})
            raw = conn.getresponse()
        except BaseException:
            conn.close()
            raise
        return Response(self, conn, raw)

    def put_back(self, conn: _Connection) -> None:
        with self._lock:
            if len(self._idle) < self._keep:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def _take(self) -> _Connection:
        for _ in range(self._keep + 1):  # each round takes one idle connection out
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                break
            if not _dropped(conn.sock):
                return conn
            conn.close()  # the server closed it while idle: a fresh one
        return _Connection(self._opener, self._timeout)


def _dropped(sock: Any) -> bool:
    """Whether an idle connection's socket was closed by the other end (readable with nothing
    asked: EOF), as urllib3 checks before it reuses one."""
    if sock is None:
        return True
    try:
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True
