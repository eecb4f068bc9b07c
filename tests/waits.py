"""Waiting on a condition in tests, bounded in time and count (never a fixed sleep, never a
timing assert: speed lives in bench/)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.05) -> T:
    """Poll ``predicate`` until it returns something truthy (returned), at most ``timeout``
    seconds; on time-out the test fails saying ``what`` it waited for and the last value."""
    if timeout <= 0 or interval <= 0:
        raise ValueError("wait_for needs a positive timeout and interval")
    deadline = time.monotonic() + timeout
    tries = max(1, int(timeout / interval) + 2)  # bounded in count as well as in time
    last: T | None = None
    for _ in range(tries):
        last = predicate()
        if last:
            return last
        if time.monotonic() >= deadline:
            break
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))
    pytest.fail(f"timed out after {timeout:g}s waiting for {what} (last: {last!r})", pytrace=False)
