"""Named steps with undo: the old scripts' ``runAllSteps``, made safe.

A long operation is a list of :class:`Step`. Each step runs with a :class:`StepContext` through
which it logs, reports progress and registers how to undo what it made. When a step fails or
the user interrupts, every registered undo runs in reverse order, then a :class:`StepFailed`
(or :class:`Interrupted`) names the failed step and the log file.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import NoReturn, Protocol

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


@dataclass
class StepsResult:
    durations: dict[str, float]
    notes: dict[str, str]
    seconds: float


@contextmanager
def _no_interrupts() -> Iterator[None]:
    """Shield undo work from a second Ctrl-C (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def rollback(undos: list[_Undo], log: OpLog, reporter: Reporter) -> list[str]:
    """Run undos newest first; never stop at a failing one. Returns the failures."""
    problems: list[str] = []
    with _no_interrupts():
        for undo in reversed(undos):
            reporter.undoing(undo.description)
            log.write(f"[undo {undo.step}] {undo.description}")
            try:
                undo.func()
            except BaseException as err:  # noqa: BLE001 - keep undoing whatever happens
                problems.append(f"{undo.description}: {err}")
                log.write(f"[undo {undo.step}] FAILED: {err!r}")
    return problems


def run_steps(
    title: str,
    steps: Sequence[Step],
    log: OpLog,
    reporter: Reporter | None = None,
) -> StepsResult:
    """Run ``steps`` in order; on failure or interrupt undo the done ones in reverse."""
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
                problems = rollback(undos, log, rep)
                log.write(f"== {title}: rolled back {len(undos)} change(s)"
                          + (f", {len(problems)} undo(s) failed" if problems else ""))
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
