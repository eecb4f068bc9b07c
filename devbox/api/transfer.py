"""The streamed files of ``move``: ``GET /v1/exports/{id}/{image,opt}`` sends an export's
spooled file, ``PUT /v1/imports/{id}/{image,opt}`` takes one into an import's spool (a
chunked body, as big as its ``X-Devbox-Size`` header says and no bigger; refused when the
disk lacks the room). They are no jobs (a job's body is JSON): plain aiohttp handlers,
registered by :class:`devbox.api.server.Service` with :func:`add_routes`. Every file and
docker call runs in an executor, never on the service's event loop; the spool's record
says whose it is (:mod:`devbox.state.move_spool`)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path
from typing import Any

from aiohttp import web

from devbox.api import protocol, replies
from devbox.config import Config
from devbox.errors import UserError

PARTS = ("image", "opt")
SIZE_HEADER = "X-Devbox-Size"
CHUNK = 1 << 20


def add_routes(app: web.Application, cfg: Config) -> None:
    async def send(request: web.Request) -> web.StreamResponse:
        return await _send(cfg, request)

    async def receive(request: web.Request) -> web.StreamResponse:
        return await _receive(cfg, request)

    app.router.add_route("GET", protocol.PREFIX + "/exports/{spool}/{part}", send)
    app.router.add_route("PUT", protocol.PREFIX + "/imports/{spool}/{part}", receive)


def _part(request: web.Request) -> tuple[str, str]:
    part = request.match_info["part"]
    if part not in PARTS:
        raise UserError(f"no such file of a move: {part!r} (image or opt)")
    return request.match_info["spool"], part


async def _send(cfg: Config, request: web.Request) -> web.StreamResponse:
    from devbox.services import container_move

    loop = asyncio.get_running_loop()
    try:
        spool, part = _part(request)
        path = await loop.run_in_executor(
            None, container_move.export_file, cfg, request["caller"], spool, part
        )
    except Exception as err:  # noqa: BLE001 - refused: one JSON error
        return replies.refusal(err)
    return web.FileResponse(path, chunk_size=CHUNK)


async def _receive(cfg: Config, request: web.Request) -> web.StreamResponse:
    from devbox.services import container_move

    loop = asyncio.get_running_loop()
    try:
        spool, part = _part(request)
        try:
            size = int(request.headers.get(SIZE_HEADER, ""))
        except ValueError:
            raise UserError(f"a move's file needs its size in the {SIZE_HEADER} header") from None
        path: Path = await loop.run_in_executor(
            None, container_move.import_path, cfg, request["caller"], spool, part, size
        )
    except Exception as err:  # noqa: BLE001 - refused before a byte is read
        return replies.refusal(err)
    temp = path.with_name(f".{path.name}.part")
    fh = await loop.run_in_executor(None, _create, temp)
    written = 0
    try:
        async for chunk in request.content.iter_chunked(CHUNK):
            written += len(chunk)
            if written > size:
                raise UserError(f"the {part} file is bigger than the {size} bytes announced")
            await loop.run_in_executor(None, fh.write, chunk)
        if written != size:
            raise UserError(f"the {part} file ended after {written} of {size} bytes")
        await loop.run_in_executor(None, _commit, fh, temp, path)
        await loop.run_in_executor(None, _audit, cfg, request, spool, part, written)
    except BaseException as err:
        await loop.run_in_executor(None, _discard, fh, temp)
        if isinstance(err, Exception):
            return replies.refusal(err)
        raise
    return web.json_response({"part": part, "bytes": written})


def _audit(cfg: Config, request: web.Request, spool: str, part: str, size: int) -> None:
    """One audit line per file received (``clone --hosts`` proves with it that SRC's /opt
    reached a host once per run)."""
    from devbox.paths import Layout
    from devbox.state import audit_log

    caller = request["caller"]
    record = {"user": caller.user, "uid": caller.uid, "command": "import_put", "target": spool}
    with contextlib.suppress(OSError):
        audit_log.append(Layout(cfg.root), {**record, "args": {"part": part, "bytes": size}})


def _create(path: Path) -> Any:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    return open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600), "wb")


def _commit(fh: Any, temp: Path, path: Path) -> None:
    fh.flush()
    os.fsync(fh.fileno())
    fh.close()
    os.rename(temp, path)


def _discard(fh: Any, temp: Path) -> None:
    with contextlib.suppress(OSError):
        fh.close()
    with contextlib.suppress(FileNotFoundError):
        temp.unlink()
