"""Waiting on a condition, bounded in time and in count: the one polling loop of devbox.

``poll`` gives the first truthy value of a predicate, or None when the time is up (a site that
carries on, or decides itself what a time-out means); ``wait_until`` raises instead, a devbox
error naming what it waited for (or the caller's own error). The predicate is called at least
once, and once more at the deadline; an error it raises propagates (catch the expected ones
inside it)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TypeVar

from devbox.errors import DevboxError, OperationFailed

T = TypeVar("T")


def poll(
    predicate: Callable[[], T | None],
    timeout: float,
    interval: float = 0.05,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> T | None:
    """Call ``predicate`` every ``interval`` seconds until it returns something truthy (which
    is returned) or ``timeout`` seconds have passed (None). Never sleeps past the deadline."""
    if interval <= 0:
        raise ValueError("poll needs a positive interval")
    deadline = clock() + max(0.0, timeout)
    # each round but the last sleeps a whole interval: this many rounds always reach the deadline
    for _ in range(math.ceil(max(0.0, timeout) / interval) + 2):
        value = predicate()
        if value:
            return value
        left = deadline - clock()
        if left <= 0:
            break
        sleep(min(interval, left))
    return None


def wait_until(
    predicate: Callable[[], T | None],
    timeout: float,
    interval: float,
    what: str,
    *,
    error: Callable[[], DevboxError] | None = None,
    hint: str | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Like ``poll``, but a time-out raises ``error()`` when given, else ``OperationFailed``
    "timed out after Ns waiting for <what>" (with ``hint``)."""
    value = poll(predicate, timeout, interval, clock=clock, sleep=sleep)
    if value:
        return value
    if error is not None:
        raise error()
    raise OperationFailed(f"timed out after {timeout:g}s waiting for {what}", hint=hint)
