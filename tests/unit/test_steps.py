from __future__ import annotations

from pathlib import Path

import pytest

from devbox.errors import ExitCode, Interrupted, StepFailed, UserError
from devbox.oplog import OpLog, register_secret
from devbox.steps import Step, StepContext, run_steps

N = 5


def _steps(fail_at: int | None, events: list[str], exc: BaseException | None = None) -> list[Step]:
    def make(i: int) -> Step:
        def run(ctx: StepContext) -> None:
            events.append(f"do{i}")
            ctx.undo(f"undo {i}", lambda: events.append(f"undo{i}"))
            if i == fail_at:
                raise exc or RuntimeError(f"boom {i}")

        return Step(f"step{i}", run)

    return [make(i) for i in range(N)]


def test_all_steps_run_in_order(tmp_path: Path) -> None:
    events: list[str] = []
    with OpLog(tmp_path / "x.log") as log:
        result = run_steps("make", _steps(None, events), log)
    assert events == [f"do{i}" for i in range(N)]
    assert list(result.durations) == [f"step{i}" for i in range(N)]
    text = (tmp_path / "x.log").read_text()
    for i in range(N):
        assert f"[step{i}] done in" in text


@pytest.mark.parametrize("fail_at", range(N))
def test_failure_at_every_position_undoes_in_reverse(tmp_path: Path, fail_at: int) -> None:
    events: list[str] = []
    log_path = tmp_path / "x.log"
    with OpLog(log_path) as log, pytest.raises(StepFailed) as exc:
        run_steps("make", _steps(fail_at, events), log)
    done = [f"do{i}" for i in range(fail_at + 1)]
    undone = [f"undo{i}" for i in reversed(range(fail_at + 1))]
    assert events == done + undone
    assert f"step 'step{fail_at}' failed: boom {fail_at}" in exc.value.message
    assert str(log_path) in (exc.value.hint or "")
    assert exc.value.exit_code == ExitCode.FAILED


@pytest.mark.parametrize("fail_at", range(N))
def test_interrupt_at_every_position_rolls_back(tmp_path: Path, fail_at: int) -> None:
    events: list[str] = []
    with OpLog(tmp_path / "x.log") as log, pytest.raises(Interrupted) as exc:
        run_steps("make", _steps(fail_at, events, KeyboardInterrupt()), log)
    assert events[-1] == "undo0"
    assert events.count("undo0") == 1
    assert f"'step{fail_at}'" in exc.value.message
    assert exc.value.exit_code == ExitCode.INTERRUPTED


def test_user_error_keeps_exit_code_and_hint(tmp_path: Path) -> None:
    events: list[str] = []
    with OpLog(tmp_path / "x.log") as log, pytest.raises(StepFailed) as exc:
        run_steps("make", _steps(2, events, UserError("bad", hint="do X")), log)
    assert exc.value.exit_code == ExitCode.USER
    assert (exc.value.hint or "").startswith("do X")


def test_failing_undo_does_not_stop_rollback(tmp_path: Path) -> None:
    events: list[str] = []

    def s0(ctx: StepContext) -> None:
        ctx.undo("undo 0", lambda: events.append("undo0"))

    def s1(ctx: StepContext) -> None:
        def bad() -> None:
            raise OSError("stuck")

        ctx.undo("undo 1", bad)

    def s2(ctx: StepContext) -> None:
        raise RuntimeError("fail")

    with OpLog(tmp_path / "x.log") as log, pytest.raises(StepFailed) as exc:
        run_steps("make", [Step("a", s0), Step("b", s1), Step("c", s2)], log)
    assert events == ["undo0"]
    assert "could not undo: undo 1: stuck" in (exc.value.hint or "")


def test_skip_is_done_with_note(tmp_path: Path) -> None:
    def s(ctx: StepContext) -> None:
        ctx.skip("already there")

    with OpLog(tmp_path / "x.log") as log:
        result = run_steps("make", [Step("a", s)], log)
    assert result.notes["a"] == "skipped: already there"


def test_secrets_never_reach_the_log(tmp_path: Path) -> None:
    register_secret("hunter2-secret")
    with OpLog(tmp_path / "x.log") as log:
        log.write("login with hunter2-secret ok")
    text = (tmp_path / "x.log").read_text()
    assert "hunter2-secret" not in text and "********" in text
