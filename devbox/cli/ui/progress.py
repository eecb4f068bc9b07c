"""Step reporters: a rich live display on a terminal, plain lines otherwise."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from devbox.cli.ui.console import UI

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID


class PlainReporter:
    """One line per event on stderr; for pipes, CI logs and tests."""

    def __init__(self, ui: UI, prefix: str = "") -> None:
        self.ui = ui
        self.prefix = prefix
        self._last_pct: dict[str, int] = {}

    def started(self, index: int, total: int, name: str) -> None:
        self.ui.info(f"{self.prefix}[{index}/{total}] {name} ...")

    def progress(self, name: str, completed: float, total: float | None, detail: str) -> None:
        if total:
            pct = int(100 * completed / total)
            if pct // 25 != self._last_pct.get(name, -1) // 25:
                self._last_pct[name] = pct
                self.ui.detail(f"{self.prefix}    {name}: {pct}% {detail}")

    def finished(self, name: str, seconds: float, note: str) -> None:
        extra = f" ({note})" if note else ""
        self.ui.info(f"{self.prefix}    {name}: done in {seconds:.2f}s{extra}")

    def failed(self, name: str, seconds: float, error: str) -> None:
        self.ui.info(f"{self.prefix}    {name}: FAILED after {seconds:.2f}s")

    def undoing(self, description: str) -> None:
        self.ui.info(f"{self.prefix}    undo: {description}")

    def close(self) -> None:
        pass


class RichReporter:
    """A live progress display: one row per step, with a bar for steps that report totals."""

    def __init__(self, ui: UI, title: str) -> None:
        from rich.progress import (
            BarColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self.ui = ui
        self._lock = threading.Lock()
        self._progress: Progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=ui.err,
            transient=False,
        )
        self._tasks: dict[str, TaskID] = {}
        self._progress.start()
        self.title = title

    def started(self, index: int, total: int, name: str) -> None:
        with self._lock:
            self._tasks[name] = self._progress.add_task(
                f"[{index}/{total}] {name}", total=None, detail=""
            )

    def progress(self, name: str, completed: float, total: float | None, detail: str) -> None:
        with self._lock:
            task = self._tasks.get(name)
            if task is not None:
                kwargs: dict[str, Any] = {"completed": completed, "detail": detail}
                if total:
                    kwargs["total"] = total
                self._progress.update(task, **kwargs)

    def _end(self, name: str, detail: str) -> None:
        with self._lock:
            task = self._tasks.get(name)
            if task is not None:
                t = self._progress.tasks[task]
                self._progress.update(
                    task, total=t.total or 1, completed=t.total or 1, detail=detail
                )
                self._progress.stop_task(task)

    def finished(self, name: str, seconds: float, note: str) -> None:
        self._end(name, f"done {seconds:.2f}s" + (f" ({note})" if note else ""))

    def failed(self, name: str, seconds: float, error: str) -> None:
        self._end(name, "[red]FAILED[/red]")

    def undoing(self, description: str) -> None:
        self._progress.console.print(f"  undo: {description}", markup=False)

    def close(self) -> None:
        self._progress.stop()


def reporter_for(ui: UI, title: str) -> PlainReporter | RichReporter:
    if ui.interactive:
        return RichReporter(ui, title)
    return PlainReporter(ui)
