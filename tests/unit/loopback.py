"""Real HTTP(S) servers on 127.0.0.1 for unit tests: bounded, recorded, stopped in ``finally``.

Only loopback: nothing leaves this machine. TLS uses devbox's own PKI (a CA and a server
certificate for 127.0.0.1 and localhost), trusted by a client through the CA file.
"""

from __future__ import annotations

import http.server
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

Handler = Callable[["Request"], None]


@dataclass
class Request:
    """One request as the server saw it, and the means to answer it."""

    method: str
    path: str
    headers: dict[str, str]
    handler: http.server.BaseHTTPRequestHandler

    def send(
        self,
        status: int,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        length: bool = True,
    ) -> None:
        self.handler.send_response(status)
        for key, value in (headers or {}).items():
            self.handler.send_header(key, value)
        if length:
            self.handler.send_header("Content-Length", str(len(body)))
        self.handler.end_headers()
        if body:
            self.handler.wfile.write(body)

    def write(self, data: bytes) -> None:
        self.handler.wfile.write(data)
        self.handler.wfile.flush()


@dataclass
class Server:
    port: int
    scheme: str
    seen: list[Request] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    @property
    def base(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


@contextmanager
def serve(answer: Handler, tls: ssl.SSLContext | None = None) -> Iterator[Server]:
    """Run a threaded server on 127.0.0.1 (a free port) that records every request and lets
    ``answer`` reply; shut down (and its handler threads told to stop) on exit."""
    holder: list[Server] = []

    class _Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _any(self) -> None:
            req = Request(self.command, self.path, {k: v for k, v in self.headers.items()}, self)
            holder[0].seen.append(req)
            try:
                answer(req)
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                pass

        do_GET = do_HEAD = do_POST = _any

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.timeout = 5
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    server = Server(httpd.server_address[1], "https" if tls else "http")
    holder.append(server)
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        server.stop.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


def tls_pair(tmp: Path) -> tuple[Path, ssl.SSLContext]:
    """(CA file a client trusts, server context) for 127.0.0.1 and localhost, made with
    devbox's PKI."""
    from devbox.adapters import pki

    paths = pki.CertPaths(tmp / "pki")
    pki.ensure_ca(paths)
    pki.ensure_server_cert(paths, ["localhost", "127.0.0.1"])
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(paths.server_cert), str(paths.server_key))
    return paths.ca_cert, ctx
