"""What the devbox service and its clients agree on: the API version, where the socket is,
and the newline-delimited JSON events long requests stream (as Docker's build/pull do).

Imports nothing heavy: the CLI's start-up reads this module.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from devbox.errors import (
    DevboxError,
    ExitCode,
    Interrupted,
    NotReadyError,
    OperationFailed,
    UserError,
)
from devbox.model import labels
from devbox.paths import Layout

API_VERSION = 1
# the HTTP status of an error reply, by devbox exit code
HTTP_STATUS = {
    int(ExitCode.USER): 400,
    int(ExitCode.NOT_READY): 503,
    int(ExitCode.FAILED): 500,
    int(ExitCode.INTERRUPTED): 499,
    int(ExitCode.INTERNAL): 500,
}
PREFIX = f"/v{API_VERSION}"
VERSION_HEADER = "X-Devbox-Api"  # the client's API version, sent with every request
SETTINGS_HEADER = "X-Devbox-Settings"  # root's own settings (environment, flags): root only
DEFAULT_SOCKET = Path("/run/devbox/devbox.sock")
NDJSON = "application/x-ndjson"


def socket_path(root: Path, setting: str) -> Path:
    """The API socket of the service of ``root``: the ``service.socket`` setting, else
    /run/devbox/devbox.sock for the default root, else ``<root>/run/devbox.sock``."""
    if setting:
        return Path(setting)
    if str(root) == labels.DEFAULT_ROOT:
        return DEFAULT_SOCKET
    return Layout(root).service_socket


# ---- root's settings: root's CLI works with its own environment and flags, as it did before
# the service; the service takes them from uid 0 only. The environment travels as far as
# devbox, Docker, Perforce and the tools they run read it, nothing more.
FORWARDED = ("HOME", "XDG_CONFIG_HOME", "PATH", "USER", "LOGNAME", "LANG", "TZ")
FORWARDED_PREFIXES = ("DEVBOX_", "DOCKER_", "P4")


def forwarded_environ(environ: Mapping[str, str]) -> dict[str, str]:
    return {
        key: value
        for key, value in environ.items()
        if key in FORWARDED or key.startswith(FORWARDED_PREFIXES)
    }


def encode_settings(environ: Mapping[str, str], overrides: Mapping[str, Any]) -> str:
    settings = {"environ": forwarded_environ(environ), "overrides": dict(overrides)}
    raw = json.dumps(settings, default=str)
    return base64.b64encode(raw.encode()).decode()


def decode_settings(header: str) -> tuple[dict[str, str], dict[str, Any]]:
    """(environment, overrides) of a settings header; ValueError when it is not one."""
    try:
        data = json.loads(base64.b64decode(header, validate=True))
    except (ValueError, TypeError) as err:
        raise ValueError(f"the settings header is not base64 JSON: {err}") from None
    environ = data.get("environ") if isinstance(data, dict) else None
    overrides = data.get("overrides") if isinstance(data, dict) else None
    if not isinstance(environ, dict) or not isinstance(overrides, dict):
        raise ValueError("the settings header needs an 'environ' and an 'overrides' object")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in environ.items()):
        raise ValueError("the settings header's environment must map strings to strings")
    return environ, overrides


def job_environ(service: Mapping[str, str], client: Mapping[str, str]) -> dict[str, str]:
    """A root job's environment: the service's own, less what root's CLI forwards (so a
    setting the CLI does not have is not the service's either), plus the CLI's."""
    base = {k: v for k, v in service.items() if k not in forwarded_environ(service)}
    return {**base, **client}


# ---- events of a streamed request: one JSON object per line ---------------------------------
# {"event": "job", "id": ...}                                   first line: the job to cancel
# {"event": "report", "stream": S, "call": C, "args": [...]}    a steps.Reporter call
# {"event": "message", "level": "info"|"warning", "text": ...}  a line for the user
# {"event": "result", "data": {...}}                            last line on success
# {"event": "error", "exit": N, "message": ..., "hint": ...}    last line on failure


def encode(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode() + b"\n"


def error_event(err: BaseException) -> dict[str, Any]:
    if isinstance(err, DevboxError):
        return {
            "event": "error",
            "exit": int(err.exit_code),
            "message": err.message,
            "hint": err.hint,
        }
    if isinstance(err, KeyboardInterrupt):
        return {
            "event": "error",
            "exit": int(ExitCode.INTERRUPTED),
            "message": "interrupted; what was done has been rolled back",
            "hint": None,
        }
    return {
        "event": "error",
        "exit": int(ExitCode.INTERNAL),
        "message": f"internal error in the devbox service: {type(err).__name__}: {err}",
        "hint": "see the service log (<root>/logs/daemon.log)",
    }


_BY_EXIT: dict[int, type[DevboxError]] = {
    int(ExitCode.USER): UserError,
    int(ExitCode.NOT_READY): NotReadyError,
    int(ExitCode.FAILED): OperationFailed,
    int(ExitCode.INTERRUPTED): Interrupted,
}


class ServiceError(DevboxError):
    """An error the service reported, with the exit code it chose."""

    def __init__(self, message: str, hint: str | None, exit_code: int) -> None:
        super().__init__(message, hint)
        self.exit_code = ExitCode(exit_code) if exit_code in set(ExitCode) else ExitCode.FAILED


def raise_error(payload: dict[str, Any]) -> None:
    """Raise what an error event or error body says, as the DevboxError of its exit code."""
    code = int(payload.get("exit") or ExitCode.FAILED)
    message = str(payload.get("message") or "the devbox service failed")
    hint = payload.get("hint")
    kind = _BY_EXIT.get(code)
    if kind is not None:
        raise kind(message, hint)
    raise ServiceError(message, hint, code)


def json_loads(raw: bytes) -> dict[str, Any]:
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("an event must be a JSON object")
    return data
