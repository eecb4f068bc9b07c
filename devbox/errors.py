"""The one error type users see, and the exit codes it maps to.

Every error names what went wrong in one line and, where we know it, what to do next (``hint``).
Library errors are translated at the adapter boundary with ``raise DevboxError(...) from err``.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Documented exit codes (see README)."""

    OK = 0
    INTERNAL = 1  # a bug: traceback with --debug
    USER = 2  # bad input: a name, a flag, a config value
    NOT_READY = 3  # environment not ready: no dockerd, not root, dnsmasq missing, lab down
    FAILED = 4  # an operation failed against a real system and was rolled back
    INTERRUPTED = 130  # Ctrl-C / SIGTERM; what was done was rolled back


class DevboxError(Exception):
    """An error a user can act on. ``str()`` is the one-line message."""

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UserError(DevboxError):
    """Bad input: fix the command line or the config."""

    exit_code = ExitCode.USER


class NotReadyError(DevboxError):
    """The host is not ready (missing package, daemon down, missing privilege)."""

    exit_code = ExitCode.NOT_READY


class OperationFailed(DevboxError):
    """A real system said no (DHCP timeout, build failure, registry refused)."""

    exit_code = ExitCode.FAILED


class Interrupted(DevboxError):
    """The user interrupted; what was done has been rolled back."""

    exit_code = ExitCode.INTERRUPTED


class StepFailed(DevboxError):
    """A step of a long operation failed; earlier steps were undone.

    Keeps the exit code of the underlying error, so 'no DHCP answer' during a make is still
    an operation failure and a bad value is still a user error.
    """

    def __init__(self, message: str, hint: str | None, cause: BaseException) -> None:
        super().__init__(message, hint)
        if isinstance(cause, DevboxError):
            self.exit_code = cause.exit_code
        elif isinstance(cause, KeyboardInterrupt):
            self.exit_code = ExitCode.INTERRUPTED
        else:
            self.exit_code = ExitCode.FAILED
