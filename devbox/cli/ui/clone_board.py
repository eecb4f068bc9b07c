"""One progress line per clone: a rich board on a terminal, prefixed plain lines otherwise.

Each clone runs its own steps in its own thread; :meth:`Board.reporter` gives the step
:class:`devbox.steps.Reporter` of one clone, all drawn into one live display.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from devbox.cli.ui.console import UI
from devbox.cli.ui.progress import PlainReporter

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from devbox.steps import Reporter


class _Line:
    def __init__(self, board: RichBoard, name: str) -> None:
        self.board = board
        self.name = name
        self.total = 1

    def started(self, index: int, total: int, name: str) -> None:
        self.total = total
        self.board.update(
            self.name, completed=index - 1, total=total, detail=f"[{index}/{total}] {name}"
        )

    def progress(self, name: str, completed: float, total: float | None, detail: str) -> None:
        if total:
            pct = int(100 * completed / total)
            self.board.update(self.name, detail=f"{name} {pct}% {detail}".rstrip())

    def finished(self, name: str, seconds: float, note: str) -> None:
        self.board.advance(self.name)

    def failed(self, name: str, seconds: float, error: str) -> None:
        self.board.update(self.name, detail=f"FAILED in '{name}': {error[:80]}")

    def undoing(self, description: str) -> None:
        self.board.update(self.name, detail=f"undo: {description[:60]}")

    def close(self) -> None:
        self.board.done(self.name)


class RichBoard:
    def __init__(self, ui: UI) -> None:
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self._lock = threading.Lock()
        self._progress: Progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.fields[name]:<24}"),
            BarColumn(bar_width=20),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=ui.err,
        )
        self._tasks: dict[str, TaskID] = {}
        self._progress.start()

    def reporter(self, name: str) -> Reporter:
        with self._lock:
            self._tasks[name] = self._progress.add_task(name, total=1, name=name, detail="")
        return _Line(self, name)

    def update(self, name: str, **fields: Any) -> None:
        with self._lock:
            task = self._tasks.get(name)
            if task is not None:
                self._progress.update(task, **fields)

    def advance(self, name: str) -> None:
        with self._lock:
            task = self._tasks.get(name)
            if task is not None:
                self._progress.advance(task)

    def done(self, name: str) -> None:
        with self._lock:
            task = self._tasks.get(name)
            if task is not None:
                self._progress.stop_task(task)

    def close(self) -> None:
        self._progress.stop()


class PlainBoard:
    def __init__(self, ui: UI) -> None:
        self.ui = ui

    def reporter(self, name: str) -> Reporter:
        return PlainReporter(self.ui, prefix=f"{name}: ")

    def close(self) -> None:
        pass


def board_for(ui: UI) -> RichBoard | PlainBoard:
    return RichBoard(ui) if ui.interactive else PlainBoard(ui)
