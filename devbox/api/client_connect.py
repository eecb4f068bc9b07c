"""``devbox common net connect`` for a caller who cannot enter network namespaces (anyone but
root): this process's stdin/stdout relayed over a WebSocket to the devbox service, which holds
the TCP connection to the container's LAN address (``GET /v1/containers/NAME/connect``).

aiohttp's client (the server's library; imported here only, never at the CLI's start-up):
binary frames carry the bytes, the text frame ``eof`` says this side's stdin ended (a
half-close, as ``ssh`` expects of a ProxyCommand); the relay ends when the container's side
closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

import aiohttp

from devbox.api import protocol
from devbox.errors import OperationFailed

CHUNK = 65536


def relay_stdio(socket_path: Path, name: str, port: int) -> None:
    """Relay stdin/stdout to ``name``:``port`` through the service until the far side ends."""
    asyncio.run(_relay(socket_path, name, port))


async def _relay(socket_path: Path, name: str, port: int) -> None:
    from urllib.parse import quote

    url = f"http://localhost{protocol.PREFIX}/containers/{quote(name, safe='')}/connect"
    headers = {protocol.VERSION_HEADER: str(protocol.API_VERSION)}
    connector = aiohttp.UnixConnector(path=str(socket_path))
    async with aiohttp.ClientSession(connector=connector) as session:
        try:
            ws = await session.ws_connect(
                url, params={"port": str(port)}, headers=headers, max_msg_size=0
            )
        except aiohttp.ClientError as err:
            raise OperationFailed(f"the devbox service refused the connection: {err}") from None
        async with ws:
            await _pump(ws)


async def _pump(ws: aiohttp.ClientWebSocketResponse) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(0, "rb", buffering=0, closefd=False)
    )

    async def upstream() -> None:
        while True:
            data = await reader.read(CHUNK)
            if not data:
                await ws.send_str("eof")
                return
            await ws.send_bytes(data)

    async def downstream() -> None:
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.BINARY:
                view = memoryview(msg.data)
                while view:
                    view = view[os.write(1, view) :]
            elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.ERROR):
                return

    up = asyncio.ensure_future(upstream())
    try:
        await downstream()  # the container's side (or the service) ended the relay
    finally:
        up.cancel()
        with contextlib.suppress(asyncio.CancelledError, OSError, ConnectionError):
            await up
        transport.close()
