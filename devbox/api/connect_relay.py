"""``GET /v1/containers/NAME/connect``: ``net connect`` for a caller who cannot enter network
namespaces (anyone but root). The service opens the TCP connection to the container's LAN
address (the caller's own container, or an admin's any) and relays it over a WebSocket:
binary frames both ways; the text frame ``eof`` from the client is its half-close (its stdin
ended, as an ssh ProxyCommand's does). The relay ends when the container's side closes or
the client goes."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

from aiohttp import WSMsgType, web

from devbox.api import replies
from devbox.config import Config
from devbox.model.owners import Caller

FRAME_MAX = 1 << 20  # bytes: the largest frame a relay takes from its client
CHUNK = 65536


async def handle(
    request: web.Request, cfg: Config, caller: Caller, name: str
) -> web.StreamResponse:
    from devbox.api import operations, user_operations

    loop = asyncio.get_running_loop()
    body: dict[str, Any] = dict(request.query)

    def opened() -> socket.socket:
        req = operations.Request(cfg, caller, body, lambda _event: None)
        return user_operations.connect_socket(req, name)  # type: ignore[no-any-return]

    try:
        sock = await loop.run_in_executor(None, opened)
    except Exception as err:  # noqa: BLE001 - refused before the upgrade: a JSON error
        return replies.refusal(err)
    ws = web.WebSocketResponse(max_msg_size=FRAME_MAX)
    try:
        await ws.prepare(request)
        sock.setblocking(False)
        await relay(loop, ws, sock)
    finally:
        sock.close()
        await ws.close()
    return ws


async def relay(
    loop: asyncio.AbstractEventLoop, ws: web.WebSocketResponse, sock: socket.socket
) -> None:
    """Bytes between the WebSocket and the socket until one side is done (the client's
    half-close is not an end: the container's answer still comes back)."""

    async def upstream() -> None:
        async for msg in ws:
            if msg.type == WSMsgType.BINARY:
                await loop.sock_sendall(sock, msg.data)
            elif msg.type == WSMsgType.TEXT and msg.data == "eof":
                sock.shutdown(socket.SHUT_WR)
            elif msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                break

    async def downstream() -> None:
        while True:
            data = await loop.sock_recv(sock, CHUNK)
            if not data:
                return
            await ws.send_bytes(data)

    tasks = [asyncio.ensure_future(downstream()), asyncio.ensure_future(upstream())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await task
