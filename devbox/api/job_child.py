"""The body of a job's child process: build the config and the caller, run the operation,
send its events and its last word (result or error) to the service."""

from __future__ import annotations

import os
import signal
from typing import Any

from devbox.api import protocol


def _sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


PROMPT_WAIT = 600.0  # seconds a prompt waits for the person at the client


def _ask(emit: Any, answers: Any, text: str, secret: bool) -> str | None:
    """Ask the person at the client (a ``prompt`` event); their answer, or None when the
    client cannot ask (no terminal) or nobody answers in time."""
    import secrets as tokens
    import time

    prompt = tokens.token_hex(4)
    emit({"event": "prompt", "id": prompt, "text": text, "secret": secret})
    deadline = time.monotonic() + PROMPT_WAIT
    while (left := deadline - time.monotonic()) > 0:
        if not answers.poll(min(left, 1.0)):
            continue
        try:
            reply = protocol.json_loads(answers.recv_bytes())
        except (EOFError, OSError, ValueError):
            return None
        if reply.get("prompt") == prompt:
            text_ = reply.get("text")
            return text_ if isinstance(text_, str) else None
    return None


def main(
    op: str,
    caller: dict[str, Any],
    environ: dict[str, str],
    overrides: dict[str, Any],
    root: str,
    body: dict[str, Any],
    path_args: dict[str, str],
    events: Any,
    answers: Any = None,
) -> None:
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.environ.clear()  # what Docker's SDK, git and ssh read too: the caller's settings'
    os.environ.update(environ)
    signal.signal(signal.SIGTERM, _sigterm)
    alive = [True]

    def emit(event: dict[str, Any]) -> None:
        if not alive[0]:
            return
        try:
            events.send_bytes(protocol.encode(event))
        except OSError:  # the service went away: the job still finishes (or rolls back)
            alive[0] = False

    try:
        from devbox import config
        from devbox.api import operations
        from devbox.api.routes import OPERATIONS
        from devbox.model.owners import Caller

        cfg = operations.job_config(
            config.load(environ=environ, overrides={**overrides, "root": root})
        )
        request = operations.Request(cfg, Caller.from_dict(caller), body, emit)
        if answers is not None:
            request.ask = lambda text, secret: _ask(emit, answers, text, secret)
        data = OPERATIONS[op](request, **path_args)
        emit({"event": "result", "data": data})
    except BaseException as err:  # noqa: BLE001 - every end is reported to the client
        emit(protocol.error_event(err))
    finally:
        try:
            events.close()
        except OSError:
            pass
