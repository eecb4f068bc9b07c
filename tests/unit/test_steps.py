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


# ---------------------------------------------------------------- signals during the undo
# A real process (the script below) runs run_steps with devbox's own signal handlers; the test
# signals it with real SIGTERMs, each after the process said it saw the previous one.

_SCRIPT = r"""
import pathlib, sys, time
from devbox.__main__ import install_signal_handlers
from devbox.errors import DevboxError
from devbox.oplog import OpLog
from devbox.steps import Step, run_steps

work = pathlib.Path(sys.argv[1])
install_signal_handlers()

def make(ctx):
    ctx.undo("remove x's /opt", lambda: (work / "opt-undone").write_text("yes"))

    def undo():
        print("UNDO-STARTED", flush=True)
        for _ in range(600):  # a slow undo: until the test says go (bounded: 30 s)
            if (work / "go").exists():
                break
            time.sleep(0.05)
        (work / "undone").write_text("yes")
    ctx.undo("remove container x", undo)  # runs first (newest first): a slow one

def wait(ctx):
    print("STEP-RUNNING", flush=True)
    time.sleep(60)

try:
    run_steps("make x", [Step("make", make), Step("wait", wait)], OpLog(work / "x.log"),
              cleanup_hint="devbox dockeruser remove-dev-container x")
except DevboxError as err:
    print(f"ERROR {err.message} | {err.hint}", flush=True)
    sys.exit(int(err.exit_code))
print("NO-ERROR", flush=True)
"""


class _Child:
    def __init__(self, work: Path) -> None:
        import queue
        import subprocess
        import sys
        import threading

        root = Path(__file__).resolve().parents[2]
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _SCRIPT, str(work)],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []

        def pump() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                self.lines.put(line.rstrip("\n"))

        threading.Thread(target=pump, daemon=True).start()

    def expect(self, needle: str, seconds: float = 30.0) -> str:
        import queue
        import time

        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.seen.append(line)
            if needle in line:
                return line
        raise AssertionError(f"no line with {needle!r}; got {self.seen}")

    def term(self) -> None:
        import signal

        self.proc.send_signal(signal.SIGTERM)

    def close(self) -> int:
        try:
            return self.proc.wait(30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(10)


def test_two_more_sigterms_during_the_undo_do_not_stop_it(tmp_path: Path) -> None:
    child = _Child(tmp_path)
    try:
        child.expect("STEP-RUNNING")
        child.term()  # starts the rollback, as a Ctrl-C does
        child.expect("UNDO-STARTED")
        child.term()
        child.expect("still undoing")
        child.term()
        child.expect("still undoing")
        (tmp_path / "go").write_text("")
        last = child.expect("ERROR")
    finally:
        rc = child.close()
    assert (tmp_path / "undone").read_text() == "yes"
    assert (tmp_path / "opt-undone").read_text() == "yes"
    assert "rolled back" in last
    assert rc == int(ExitCode.INTERRUPTED)


def test_a_third_signal_during_the_undo_abandons_it_and_says_what_is_left(tmp_path: Path) -> None:
    child = _Child(tmp_path)
    try:
        child.expect("STEP-RUNNING")
        child.term()
        child.expect("UNDO-STARTED")
        for _ in range(2):
            child.term()
            child.expect("still undoing")
        child.term()
        last = child.expect("ERROR")
    finally:
        rc = child.close()
    assert not (tmp_path / "undone").exists()
    assert not (tmp_path / "opt-undone").exists()
    assert "undo abandoned" in last
    assert "remove container x" in last and "remove x's /opt" in last
    assert "devbox dockeruser remove-dev-container x" in last
    assert rc == int(ExitCode.INTERRUPTED)
    assert "undo abandoned" in (tmp_path / "x.log").read_text()


def test_nested_abandon_is_not_rolled_back_again(tmp_path: Path) -> None:
    """An abandon inside an inner run_steps (attach inside make) stops the outer undo too."""
    from devbox.steps import UndoAbandoned

    events: list[str] = []

    def inner(ctx: StepContext) -> None:
        raise UndoAbandoned("attach: undo abandoned", "left: veth", ["veth"])

    def outer_first(ctx: StepContext) -> None:
        ctx.undo("remove container", lambda: events.append("removed"))

    with OpLog(tmp_path / "x.log") as log, pytest.raises(UndoAbandoned) as exc:
        run_steps(
            "make",
            [Step("a", outer_first), Step("b", inner)],
            log,
            cleanup_hint="devbox dockeruser remove-dev-container x",
        )
    assert events == []
    assert "veth" in exc.value.message and "remove container" in exc.value.message
    assert "devbox dockeruser remove-dev-container x" in (exc.value.hint or "")
