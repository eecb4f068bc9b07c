"""Named steps with undo: the old scripts' ``runAllSteps``, made safe.

A long operation is a list of :class:`Step`. Each step runs with a :class:`StepContext` through
which it logs, reports progress and registers how to undo what it made. When a step fails or
the user interrupts, every registered undo runs in reverse order, then a :class:`StepFailed`
(or :class:`Interrupted`) names the failed step and the log file.
"""

from __future__ import annotations

import functools
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import NoReturn, Protocol, TypeVar

from devbox.errors import DevboxError, Interrupted, StepFailed
from devbox.oplog import OpLog


class Reporter(Protocol):
    def started(self, index: int, total: int, name: str) -> None: ...
    def progress(self, name: str, completed: float, total: float | None, detail: str) -> None: ...
    def finished(self, name: str, seconds: float, note: str) -> None: ...
    def failed(self, name: str, seconds: float, error: str) -> None: ...
    def undoing(self, description: str) -> None: ...
    def close(self) -> None: ...


class SilentReporter:
    def started(self, index: int, total: int, name: str) -> None: ...
    def progress(self, name: str, completed: float, total: float | None, detail: str) -> None: ...
    def finished(self, name: str, seconds: float, note: str) -> None: ...
    def failed(self, name: str, seconds: float, error: str) -> None: ...
    def undoing(self, description: str) -> None: ...
    def close(self) -> None: ...


class StepSkipped(Exception):
    """Raised through :meth:`StepContext.skip` to end a step early as done-nothing."""


@dataclass
class _Undo:
    step: str
    description: str
    func: Callable[[], object]


@dataclass
class StepContext:
    name: str
    log: OpLog
    reporter: Reporter
    undos: list[_Undo] = field(default_factory=list)
    note: str = ""

    def info(self, message: str) -> None:
        self.log.write(f"[{self.name}] {message}")

    def undo(self, description: str, func: Callable[[], object]) -> None:
        """Register how to undo what this step just made. Runs only if a later step fails."""
        self.undos.append(_Undo(self.name, description, func))

    def progress(self, completed: float, total: float | None = None, detail: str = "") -> None:
        self.reporter.progress(self.name, completed, total, detail)

    def skip(self, reason: str) -> NoReturn:
        """End the step now, as done (for example: already extracted)."""
        self.note = f"skipped: {reason}"
        raise StepSkipped(reason)


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[StepContext], None]


J = TypeVar("J")
JobSteps = Sequence[tuple[str, Callable[[J, StepContext], None]]]


def bind(job: J, steps: JobSteps[J]) -> list[Step]:
    """A module's ``STEPS`` (``(name, fn)`` pairs whose ``fn(job, ctx)`` are module-level
    functions over one job record; they read like the old scripts' ``runAllSteps``) as the
    :class:`Step` list of ``job``. A name may show the job's fields: ``"build {job.tag}"``."""
    return [Step(name.format(job=job), functools.partial(fn, job)) for name, fn in steps]


def job_log(log: OpLog | None, path: Path) -> AbstractContextManager[OpLog]:
    """The log a job writes to: the caller's ``log`` (left open), else a new one at ``path``
    (closed at the end of the ``with``)."""
    return nullcontext(log) if log is not None else OpLog(path)


@dataclass
class StepsResult:
    durations: dict[str, float]
    notes: dict[str, str]
    seconds: float


SHIELDED = 2  # signals (Ctrl-C, SIGTERM) an undo sits through; the next one abandons it


class _Abandon(BaseException):
    """Raised by the undo-time signal handler at the signal after the shielded ones."""


class UndoAbandoned(Interrupted):
    """The user insisted (a third Ctrl-C/SIGTERM during the undo): the undo was abandoned.
    ``left`` lists what was not undone; an outer :func:`run_steps` adds its own and does not
    roll back either."""

    def __init__(self, message: str, hint: str | None, left: list[str]) -> None:
        super().__init__(message, hint)
        self.left = left


@contextmanager
def interrupts_to(handler: Callable[[int, FrameType | None], None]) -> Iterator[None]:
    """While in the block (main thread only; elsewhere signals are not delivered), SIGINT
    and SIGTERM go to ``handler``; the previous handlers come back after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _shielded(current: list[str]) -> AbstractContextManager[None]:
    """While undoing: SIGINT and SIGTERM do not interrupt the undo; each says so on
    stderr; the one after ``SHIELDED`` of them abandons the undo."""
    count = 0

    def handler(signum: int, frame: FrameType | None) -> None:
        nonlocal count
        count += 1
        what = current[0] if current else "the rollback"
        if count > SHIELDED:
            os.write(2, f"devbox: abandoning the undo ({what})\n".encode())
            raise _Abandon
        more = SHIELDED + 1 - count
        times = "once more" if more == 1 else f"{more} more times"
        os.write(
            2,
            (
                f"devbox: still undoing: {what}; press Ctrl-C {times} to abandon it "
                "(leaves things behind)\n"
            ).encode(),
        )

    return interrupts_to(handler)


@dataclass
class Rollback:
    problems: list[str]  # undos that failed: "what: why"
    left: list[str]  # undos never run (abandoned), newest first; empty when it ran to the end


def rollback(undos: list[_Undo], log: OpLog, reporter: Reporter) -> Rollback:
    """Run undos newest first; never stop at a failing one, nor at a signal (two are sat
    through; the third abandons what is left). Returns the failures and what is left."""
    problems: list[str] = []
    todo = list(reversed(undos))
    current: list[str] = []
    done = 0
    try:
        with _shielded(current):
            for undo in todo:
                current[:] = [undo.description]
                reporter.undoing(undo.description)
                log.write(f"[undo {undo.step}] {undo.description}")
                try:
                    undo.func()
                except _Abandon:
                    raise
                except BaseException as err:  # noqa: BLE001 - keep undoing whatever happens
                    problems.append(f"{undo.description}: {err}")
                    log.write(f"[undo {undo.step}] FAILED: {err!r}")
                done += 1
    except _Abandon:
        left = [u.description for u in todo[done:]]
        log.write("undo abandoned (signal); left behind: " + "; ".join(left))
        return Rollback(problems, left)
    return Rollback(problems, [])


def run_steps(
    title: str,
    steps: Sequence[Step],
    log: OpLog,
    reporter: Reporter | None = None,
    cleanup_hint: str | None = None,
) -> StepsResult:
    """Run ``steps`` in order; on failure or interrupt undo the done ones in reverse.

    ``cleanup_hint`` (for example ``devbox dockeruser remove-dev-container NAME``) is what the
    user runs to clean up if they abandon the undo (a third Ctrl-C while it runs)."""
    rep = reporter or SilentReporter()
    undos: list[_Undo] = []
    durations: dict[str, float] = {}
    notes: dict[str, str] = {}
    t_start = time.monotonic()
    log.write(f"== {title}: {len(steps)} steps")
    try:
        for index, step in enumerate(steps, start=1):
            ctx = StepContext(step.name, log, rep)
            rep.started(index, len(steps), step.name)
            log.write(f"[{step.name}] start ({index}/{len(steps)})")
            t0 = time.monotonic()
            try:
                try:
                    step.run(ctx)
                except StepSkipped:
                    pass
            except BaseException as err:
                seconds = time.monotonic() - t0
                undos.extend(ctx.undos)
                message = str(err) or type(err).__name__
                if isinstance(err, KeyboardInterrupt):
                    message = "interrupted"
                rep.failed(step.name, seconds, message)
                log.write(f"[{step.name}] FAILED after {seconds:.2f}s: {message}")
                if not isinstance(err, DevboxError | KeyboardInterrupt):
                    log.write(f"[{step.name}] {type(err).__name__}: {err!r}")
                if isinstance(err, UndoAbandoned):
                    # abandoned inside (a nested run_steps): leave ours as they are too
                    left = err.left + [u.description for u in reversed(undos)]
                    log.write(f"== {title}: undo abandoned; left behind: " + "; ".join(left))
                    raise _abandoned(title, step.name, left, cleanup_hint, log) from None
                back = rollback(undos, log, rep)
                if back.left:
                    raise _abandoned(title, step.name, back.left, cleanup_hint, log) from None
                problems = back.problems
                log.write(
                    f"== {title}: rolled back {len(undos)} change(s)"
                    + (f", {len(problems)} undo(s) failed" if problems else "")
                )
                hint_parts = []
                if isinstance(err, DevboxError) and err.hint:
                    hint_parts.append(err.hint)
                if log.path and not any(str(log.path) in part for part in hint_parts):
                    hint_parts.append(f"log: {log.path}")
                if problems:
                    hint_parts.append("could not undo: " + "; ".join(problems))
                hint = "; ".join(hint_parts) or None
                if isinstance(err, KeyboardInterrupt):
                    raise Interrupted(
                        f"{title}: interrupted during step '{step.name}'; rolled back", hint
                    ) from None
                raise StepFailed(
                    f"{title}: step '{step.name}' failed: {message}", hint, err
                ) from err
            seconds = time.monotonic() - t0
            undos.extend(ctx.undos)
            durations[step.name] = seconds
            notes[step.name] = ctx.note
            suffix = f" ({ctx.note})" if ctx.note else ""
            log.write(f"[{step.name}] done in {seconds:.2f}s{suffix}")
            rep.finished(step.name, seconds, ctx.note)
    finally:
        rep.close()
    total = time.monotonic() - t_start
    log.write(f"== {title}: done in {total:.2f}s")
    return StepsResult(durations, notes, total)


def _abandoned(
    title: str, step: str, left: list[str], cleanup_hint: str | None, log: OpLog
) -> UndoAbandoned:
    how = (
        f"clean up with: {cleanup_hint}"
        if cleanup_hint
        else "remove them by hand, or run the command again"
    )
    hint = f"{how}" + (f"; log: {log.path}" if log.path else "")
    return UndoAbandoned(
        f"{title}: interrupted during step '{step}'; undo abandoned; left "
        f"behind: {'; '.join(left)}",
        hint,
        left,
    )
