"""The client's HTTP pool against a real HTTP/1.1 server on a unix socket (the standard
library's): kept-alive connections are reused, one the server closed is replaced, a chunked
reply streams piece by piece, an iterable body goes chunked."""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from devbox.api.client import _unix_opener
from devbox.api.http_pool import Pool


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    peers: list[int] = []  # one entry per connection the server accepted

    def setup(self) -> None:
        super().setup()
        _Handler.peers.append(id(self.connection))

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/close":
            self._reply(b"bye", close=True)
        elif self.path == "/chunks":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for piece in (b"one\n", b"two\n"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        else:
            self._reply(b"hello")

    def do_PUT(self) -> None:
        body = b""
        while (size := int(self.rfile.readline().strip(), 16)) > 0:
            body += self.rfile.read(size)
            self.rfile.readline()
        self.rfile.readline()
        self._reply(self.headers["Transfer-Encoding"].encode() + b" " + body)

    def _reply(self, data: bytes, close: bool = False) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@pytest.fixture
def sock_path(tmp_path: Path) -> Iterator[str]:
    path = str(tmp_path / "api.sock")
    _Handler.peers = []
    server = _Server(path, _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield path
    server.shutdown()
    server.server_close()


def test_a_connection_read_to_its_end_is_reused(sock_path: str) -> None:
    pool = Pool(_unix_opener(sock_path), 5)
    assert pool.request("GET", "/").data == b"hello"
    assert pool.request("GET", "/").data == b"hello"
    assert len(_Handler.peers) == 1
    pool.close()


def test_a_connection_the_server_closed_is_replaced(sock_path: str) -> None:
    pool = Pool(_unix_opener(sock_path), 5)
    assert pool.request("GET", "/close").data == b"bye"  # will_close: not kept
    assert pool.request("GET", "/").data == b"hello"
    assert len(_Handler.peers) == 2
    pool.close()


def test_a_chunked_reply_streams_and_an_iterable_body_goes_chunked(sock_path: str) -> None:
    pool = Pool(_unix_opener(sock_path), 5)
    reply = pool.request("GET", "/chunks")
    assert list(reply.stream(1024)) == [b"one\n", b"two\n"]
    reply.release_conn()
    put = pool.request("PUT", "/up", iter([b"ab", b"cd"]))
    assert put.data == b"chunked abcd"
    assert len(_Handler.peers) == 1  # both on the one kept-alive connection
    pool.close()


def test_no_server_is_an_os_error(tmp_path: Path) -> None:
    pool = Pool(_unix_opener(str(tmp_path / "none.sock")), 5)
    with pytest.raises(FileNotFoundError):
        pool.request("GET", "/")
