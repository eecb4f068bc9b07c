"""The CLI's side of the API: HTTP over the service's unix socket, the way the docker SDK's
own unix-socket transport does it (an ``HTTPConnection`` whose ``connect`` opens an AF_UNIX
socket: :mod:`devbox.api.http_pool`), and the reading of streamed events.

Imports nothing heavy (the standard library's http.client): every client command pays for
this at start-up.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from http.client import HTTPException
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from devbox.api import protocol
from devbox.api.http_pool import Pool, Response
from devbox.errors import NotReadyError, OperationFailed

if TYPE_CHECKING:
    from devbox.api.client_ssh_transport import SshTransport

FILE_CHUNK = 1 << 20  # a streamed file goes through the client in pieces this big
GROUP_HINT = "ask the host's admin to add you to group {group} (usermod -aG {group} $USER)"


def _unix_opener(path: str) -> Callable[[float | None], socket.socket]:
    def connect(timeout: float | None) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(path)
        except BaseException:
            sock.close()
            raise
        return sock

    return connect


OnEvent = Callable[[dict[str, Any]], None]


class Client:
    """One service, one socket. ``group`` names the socket's group for the refusal hint.
    With a ``transport`` (:mod:`devbox.api.client_ssh_transport`): another host's service,
    through SSH; ``path`` is then only named in messages."""

    def __init__(
        self,
        path: Path,
        group: str = "devbox",
        timeout: float = 30.0,
        settings: str | None = None,
        transport: SshTransport | None = None,
    ) -> None:
        self.path = path
        self.group = group
        self.settings = settings  # root's: protocol.encode_settings
        self.transport = transport
        self._pool: Pool
        self._stream_pool: Pool
        if transport is not None:
            if settings is not None:
                raise ValueError("root's settings never go to another host")
            self._pool = transport.pool(timeout)
            self._stream_pool = transport.pool(None)
        else:
            self._pool = Pool(_unix_opener(str(path)), timeout)
            self._stream_pool = Pool(_unix_opener(str(path)), None)  # long jobs: no read time-out

    def close(self) -> None:
        self._pool.close()
        self._stream_pool.close()
        if self.transport is not None:
            self.transport.close()

    def answers(self) -> bool:
        """Whether a service listens on the socket (a connect, no request); over SSH: the
        SSH login is up (dial-stdio there says the rest at the first request)."""
        if self.transport is not None:
            return True
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(5)
        try:
            sock.connect(str(self.path))
        except OSError:
            return False
        finally:
            sock.close()
        return True

    # ---- plain requests -------------------------------------------------------------------
    def get(self, path: str, **params: Any) -> Any:
        return self._json("GET", path, fields=_fields(params))

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self._json("POST", path, body=body)

    def delete(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self._json("DELETE", path, body=body)

    def _json(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        fields: dict[str, str] | None = None,
    ) -> Any:
        response = self._request(self._pool, method, path, body, fields, stream=False)
        data = _decode(response.data)
        if response.status >= 400:
            protocol.raise_error(data.get("error", {}) if isinstance(data, dict) else {})
        return data

    # ---- streamed requests ----------------------------------------------------------------
    def download(self, path: str) -> Response:
        """A streamed GET of a file (a move's export): the open response, to be read with
        ``.stream()`` and released; an error reply raised."""
        response = self._request(self._stream_pool, "GET", path, None, None, stream=True)
        if response.status >= 400:
            data = _decode(response.read())
            response.release_conn()
            protocol.raise_error(data.get("error", {}) if isinstance(data, dict) else {})
        return response

    def upload(self, path: str, chunks: Iterable[bytes], size: int) -> Any:
        """A chunked PUT of ``size`` bytes from ``chunks`` (a move's import): its JSON reply."""
        headers = {protocol.VERSION_HEADER: str(protocol.API_VERSION), "X-Devbox-Size": str(size)}
        try:  # an iterable body goes chunked
            response = self._stream_pool.request("PUT", protocol.PREFIX + path, chunks, headers)
        except (HTTPException, OSError) as err:
            raise self._unreachable(err) from None
        data = _decode(response.data)
        if response.status >= 400:
            protocol.raise_error(data.get("error", {}) if isinstance(data, dict) else {})
        return data

    def send_file(
        self,
        dst: Client,
        path: str,
        dst_path: str,
        size: int,
        on_bytes: Callable[[int], None] | None = None,
    ) -> int:
        """Stream one file this service serves (``GET path``) to ``dst`` (a chunked ``PUT
        dst_path`` of ``size`` bytes) through this process, ``on_bytes(done)`` after each
        piece; the bytes sent. A move's and a ``clone --hosts``'s files."""
        response = self.download(path)
        done = 0

        def chunks() -> Iterator[bytes]:
            nonlocal done
            for chunk in response.stream(FILE_CHUNK):
                done += len(chunk)
                if on_bytes is not None:
                    on_bytes(done)
                yield chunk

        try:
            dst.upload(dst_path, chunks(), size)
            return done
        finally:
            response.release_conn()

    def stream(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        on_event: OnEvent,
        on_interrupt: Callable[[str], None] | None = None,
        on_prompt: Callable[[dict[str, Any]], str | None] | None = None,
    ) -> Any:
        """A long request: every event but the last goes to ``on_event``; the result's data is
        returned, an error event raised. Ctrl-C asks the service to cancel the job (it rolls
        back, streaming its undo as before) and keeps reading to the end. A ``prompt`` event
        (the job asks the person here, e.g. for a password) is answered with ``on_prompt``'s
        reply (None: nobody can answer)."""
        response = self._request(self._stream_pool, method, path, body, None, stream=True)
        if response.status >= 400:
            data = _decode(response.read())
            response.release_conn()
            protocol.raise_error(data.get("error", {}) if isinstance(data, dict) else {})
        job: list[str] = []
        with self._forward_interrupts(job, on_interrupt), _released(response):
            for event in _lines(response):
                kind = event.get("event")
                if kind == "job":
                    job.append(str(event.get("id", "")))
                elif kind == "result":
                    return event.get("data")
                elif kind == "error":
                    protocol.raise_error(event)
                elif kind == "prompt" and job:
                    answer = on_prompt(event) if on_prompt is not None else None
                    self._json(
                        "POST",
                        f"/jobs/{job[0]}/answer",
                        body={"prompt": event.get("id"), "text": answer},
                    )
                else:
                    on_event(event)
        raise OperationFailed(
            "the devbox service ended the request without a result",
            hint="see the service log: <root>/logs/daemon.log",
        )

    def _forward_interrupts(
        self, job: list[str], on_interrupt: Callable[[str], None] | None
    ) -> AbstractContextManager[None]:
        """While a job streams, Ctrl-C (and SIGTERM) do not end the client: each is sent to
        the service as a cancel of the job, which gets it as its own Ctrl-C (the first rolls
        back, two more are sat through, a third abandons the undo) and the stream goes on
        to the job's last word."""

        from devbox.steps import interrupts_to  # a job's stream only, not every start-up

        def forward(signum: int, frame: FrameType | None) -> None:
            if not job:
                raise KeyboardInterrupt
            self.cancel(job[0])
            if on_interrupt is not None:
                on_interrupt(job[0])

        return interrupts_to(forward)

    def cancel(self, job: str) -> None:
        try:
            self._json("POST", f"/jobs/{job}/cancel")
        except (NotReadyError, OperationFailed):
            pass

    # ---- plumbing -------------------------------------------------------------------------
    def _request(
        self,
        pool: Pool,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        fields: dict[str, str] | None,
        stream: bool,
    ) -> Response:
        url = protocol.PREFIX + path
        if fields:
            from urllib.parse import urlencode

            url += "?" + urlencode(fields)
        headers = {protocol.VERSION_HEADER: str(protocol.API_VERSION)}
        if self.settings is not None:
            headers[protocol.SETTINGS_HEADER] = self.settings
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            response = pool.request(method, url, payload, headers)
            if not stream:
                response.data  # noqa: B018 - read to the end: the connection goes back
            return response
        except (HTTPException, OSError) as err:
            raise self._unreachable(err) from None

    def _unreachable(self, err: Exception) -> Exception:
        if self.transport is not None:
            return self.transport.unreachable(err)
        reason: Any = err
        text = str(reason)
        if isinstance(reason, PermissionError) or "Permission denied" in text:
            return NotReadyError(
                f"permission denied on the devbox service's socket {self.path}",
                hint=GROUP_HINT.format(group=self.group),
            )
        if isinstance(reason, FileNotFoundError | ConnectionRefusedError) or (
            "No such file" in text or "Connection refused" in text
        ):
            return NotReadyError(
                f"the devbox service is not running (no {self.path})",
                hint="ask the host's admin to start it: sudo systemctl start devbox "
                "(or: sudo devbox common daemon --install)",
            )
        return OperationFailed(f"cannot talk to the devbox service at {self.path}: {text}")


def _fields(params: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in params.items():
        if value is None or value is False:
            continue
        out[key] = "1" if value is True else str(value)
    return out


def _decode(data: bytes) -> Any:
    try:
        return json.loads(data or b"null")
    except ValueError:
        raise OperationFailed("the devbox service sent a reply that is not JSON") from None


@contextmanager
def _released(response: Response) -> Iterator[None]:
    try:
        yield
    finally:
        response.release_conn()  # kept only when read to its end


def _lines(response: Response) -> Iterator[dict[str, Any]]:
    buffer = b""
    for chunk in response.stream(65536):
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            if line.strip():
                yield json.loads(line)
    if buffer.strip():
        yield json.loads(buffer)
