"""One object per process that owns a thread (the DHCP loop, the netns window thread).

A forked child has none of its parent's threads, and a lock the parent held at the fork may
never be let go in the child: the child starts from nothing. An object that found itself
broken (``broken``) is replaced on the next use.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar


class Breakable(Protocol):
    broken: bool


B = TypeVar("B", bound=Breakable)


class PerProcess(Generic[B]):
    """``get()``: this process's object, made by ``make`` on first use, again after a fork or
    once it is broken."""

    def __init__(self, make: Callable[[], B]) -> None:
        self._make = make
        self._value: B | None = None
        self._pid = 0
        self._lock = threading.Lock()
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._value, self._lock = None, threading.Lock()

    def get(self) -> B:
        with self._lock:
            if self._value is None or self._pid != os.getpid() or self._value.broken:
                self._value, self._pid = self._make(), os.getpid()
            return self._value
