"""The body of a job's child process: build the config and the caller, run the operation,
send its events and its last word (result or error) to the service."""

from __future__ import annotations

import os
import signal
from typing import Any

from devbox.api import protocol


def _sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(
    op: str,
    caller: dict[str, Any],
    environ: dict[str, str],
    overrides: dict[str, Any],
    root: str,
    body: dict[str, Any],
    path_args: dict[str, str],
    events: Any,
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
        data = OPERATIONS[op](request, **path_args)
        emit({"event": "result", "data": data})
    except BaseException as err:  # noqa: BLE001 - every end is reported to the client
        emit(protocol.error_event(err))
    finally:
        try:
            events.close()
        except OSError:
            pass
