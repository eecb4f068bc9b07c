"""The clone's ARP check: it waits, bounded, while the interface is briefly not there."""

from __future__ import annotations

import errno
import re
from types import SimpleNamespace
from typing import Any, cast

import pytest

from devbox.errors import OperationFailed
from devbox.oplog import OpLog
from devbox.services import clone_steps
from devbox.steps import SilentReporter, StepContext


class Notes(OpLog):
    def __init__(self) -> None:
        super().__init__(None)
        self.lines: list[str] = []

    def write(self, message: str) -> None:
        self.lines.append(message)


def _job() -> Any:
    return cast(
        Any,
        SimpleNamespace(pid=1, ifname="lan0", mac="02:00:00:00:00:01", ip="10.9.8.7", name="c1"),
    )


def _probe_answers(monkeypatch: pytest.MonkeyPatch, answers: list[object]) -> list[object]:
    """Make the ARP probe give ``answers`` in turn (an exception is raised)."""
    calls: list[object] = []

    def clash(pid: int, ifname: str, mac: str, ip: str) -> str | None:
        answer = answers[min(len(calls), len(answers) - 1)]
        calls.append(answer)
        if isinstance(answer, BaseException):
            raise answer
        return cast("str | None", answer)

    monkeypatch.setattr(clone_steps, "address_clash", clash)
    return calls


def _ctx() -> tuple[StepContext, Notes]:
    log = Notes()
    return StepContext("arp-check", log, SilentReporter()), log


def test_a_briefly_missing_interface_is_probed_again(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _probe_answers(monkeypatch, [OSError(errno.ENODEV, "No such device"), None])
    ctx, log = _ctx()
    clone_steps.arp_check(_job(), ctx)
    assert len(calls) == 2
    assert log.lines == ["[arp-check] interface not ready (No such device); probing again"]
    assert ctx.note == "10.9.8.7 is ours alone"


def test_another_host_on_our_address_fails_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    _probe_answers(monkeypatch, ["02:aa:bb:cc:dd:ee"])
    with pytest.raises(OperationFailed, match="also used by 02:aa:bb:cc:dd:ee"):
        clone_steps.arp_check(_job(), _ctx()[0])


def test_another_error_is_not_waited_on(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _probe_answers(monkeypatch, [OSError(errno.EPERM, "Operation not permitted")])
    with pytest.raises(
        OperationFailed, match=re.escape("ARP check of 10.9.8.7 on c1: Operation not")
    ):
        clone_steps.arp_check(_job(), _ctx()[0])
    assert len(calls) == 1


def test_an_interface_that_stays_away_fails_in_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clone_steps, "ARP_READY_WAIT", 0.3)
    _probe_answers(monkeypatch, [OSError(errno.ENETDOWN, "Network is down")])
    with pytest.raises(
        OperationFailed, match=re.escape("ARP check of 10.9.8.7 on c1: Network is down")
    ):
        clone_steps.arp_check(_job(), _ctx()[0])
