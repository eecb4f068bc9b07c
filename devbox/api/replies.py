"""The service's error replies, one shape for every handler (the server's routes, the connect
relay, move's streamed files): ``{"error": {"exit", "message", "hint"}}`` with the HTTP status
of its exit code."""

from __future__ import annotations

from aiohttp import web

from devbox.api import protocol


def error(status: int, message: str, hint: str | None = None, exit: int = 2) -> web.Response:
    return web.json_response(
        {"error": {"exit": exit, "message": message, "hint": hint}}, status=status
    )


def refusal(err: BaseException) -> web.Response:
    """The reply for an exception of an operation (a DevboxError says its own exit code)."""
    event = protocol.error_event(err)
    return web.json_response(
        {"error": event}, status=protocol.HTTP_STATUS.get(int(event["exit"]), 500)
    )
