"""devbox.waits: the one polling loop (bounded in time and count; a fake clock, no sleeping)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from devbox.errors import ExitCode, NotReadyError, OperationFailed
from devbox.waits import poll, wait_until


class FakeTime:
    """A clock that moves only when slept on (or by ``step`` per reading, if set)."""

    def __init__(self, step: float = 0.0) -> None:
        self.now = 1000.0
        self.step = step
        self.slept: list[float] = []

    def clock(self) -> float:
        self.now += self.step
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.slept.append(seconds)
        self.now += seconds


def counting(values: list[object]) -> tuple[list[int], Callable[[], object]]:
    calls = [0]

    def predicate() -> object:
        calls[0] += 1
        return values.pop(0) if values else None

    return calls, predicate


def test_returns_the_first_truthy_value() -> None:
    t = FakeTime()
    calls, predicate = counting([None, 0, "", False, {"ip": "10.0.0.5"}, "later"])
    assert poll(predicate, 10, 0.5, clock=t.clock, sleep=t.sleep) == {"ip": "10.0.0.5"}
    assert calls[0] == 5 and t.slept == [0.5] * 4


def test_time_out_is_none_and_never_sleeps_past_the_deadline() -> None:
    t = FakeTime()
    calls, predicate = counting([])
    assert poll(predicate, 1.0, 0.3, clock=t.clock, sleep=t.sleep) is None
    assert sum(t.slept) == pytest.approx(1.0) and max(t.slept) <= 0.3
    assert calls[0] == 5  # at 0, 0.3, 0.6, 0.9 and once more at the deadline


def test_zero_or_negative_timeout_asks_once() -> None:
    for timeout in (0.0, -5.0):
        t = FakeTime()
        calls, predicate = counting([])
        assert poll(predicate, timeout, 0.1, clock=t.clock, sleep=t.sleep) is None
        assert calls[0] == 1 and t.slept == []


def test_bounded_in_count_when_the_clock_stands_still() -> None:
    t = FakeTime()
    calls, predicate = counting([])
    assert poll(predicate, 1.0, 0.25, clock=t.clock, sleep=lambda s: None) is None
    assert calls[0] == 6  # ceil(1.0 / 0.25) + 2


def test_slow_predicate_still_stops_at_the_deadline() -> None:
    t = FakeTime(step=0.4)  # each reading of the clock: 0.4 s later (a slow connect)
    calls, predicate = counting([])
    assert poll(predicate, 1.0, 0.1, clock=t.clock, sleep=t.sleep) is None
    assert calls[0] <= 3


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive interval"):
        poll(lambda: True, 1.0, 0)


def test_a_predicate_error_propagates() -> None:
    def broken() -> bool:
        raise KeyError("boom")

    with pytest.raises(KeyError):
        poll(broken, 1.0, 0.1)


def test_wait_until_names_what_it_waited_for() -> None:
    t = FakeTime()
    with pytest.raises(OperationFailed) as exc:
        wait_until(
            lambda: None,
            2.5,
            0.5,
            "the lab's dnsmasq",
            hint="see lab.log",
            clock=t.clock,
            sleep=t.sleep,
        )
    assert exc.value.message == "timed out after 2.5s waiting for the lab's dnsmasq"
    assert exc.value.hint == "see lab.log" and exc.value.exit_code == ExitCode.FAILED


def test_wait_until_raises_the_callers_error_built_at_the_time_out() -> None:
    t = FakeTime()
    last = ["no answer"]

    def attempt() -> None:
        last[0] = "connection refused"

    with pytest.raises(NotReadyError, match="connection refused"):
        wait_until(
            attempt,
            1,
            0.5,
            "sshd",
            error=lambda: NotReadyError(f"sshd: {last[0]}"),
            clock=t.clock,
            sleep=t.sleep,
        )


def test_wait_until_returns_the_value() -> None:
    t = FakeTime()
    _calls, predicate = counting([None, 42])
    assert wait_until(predicate, 5, 1, "x", clock=t.clock, sleep=t.sleep) == 42
