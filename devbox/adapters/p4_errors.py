"""What a Perforce error text means for devbox: unreachable server (NotReadyError), failed
login or unknown depot path (UserError), anything else (OperationFailed)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from devbox.errors import DevboxError, NotReadyError, OperationFailed, UserError

SETTINGS_HINT = (
    "set p4.port / p4.user (DEVBOX_P4_PORT, DEVBOX_P4_USER) or P4PORT / P4USER "
    "(P4CONFIG files are not read)"
)


def first_line(messages: Sequence[Any]) -> str:
    for msg in messages:
        text = str(msg).strip()
        if text:
            return text.splitlines()[0]
    return ""


def classify(text: str, what: str, port: str) -> DevboxError:
    low = text.lower()
    if "connect to server failed" in low or "tcp connect" in low or "connection refused" in low:
        return NotReadyError(
            f"{what}: cannot reach the Perforce server {port or '(P4PORT unset)'}: {text}",
            hint=SETTINGS_HINT,
        )
    if (
        "password invalid" in low
        or "p4passwd" in low
        or "session has expired" in low
        or ("doesn't exist" in low and "user" in low)
        or "please login" in low
        or ("ticket" in low and "invalid" in low)
    ):
        return UserError(
            f"{what}: Perforce login failed: {text}",
            hint="check p4.user and the password (p4 login), then retry",
        )
    if (
        "no such file" in low
        or "nonexistent depot" in low
        or "unknown depot" in low
        or "not under" in low
        or "not in client view" in low
        or "must refer to" in low
    ):
        return UserError(
            f"{what}: unknown depot path: {text}",
            hint="check depot/view of this branch in roles/dockeruser/branches.toml",
        )
    return OperationFailed(f"{what}: Perforce: {text}")
