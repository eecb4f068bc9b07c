"""run-on's result record."""

from __future__ import annotations

from devbox.services.runon import RunResult


def test_run_result_tail() -> None:
    r = RunResult("a", 1, 0.5, stdout="one\ntwo\n\nthree\n", stderr="err\n")
    assert r.tail(2) == ["three", "err"]
    assert not r.ok and RunResult("b", 0, 0.1).ok
    assert r.to_dict()["ok"] is False
