"""One console for everything devbox prints: info, warning, error, success, tables, JSON.

Messages go to stderr so that stdout carries only results (tables, JSON) a script can read.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


class UI:
    def __init__(self, verbose: int = 0, debug: bool = False) -> None:
        self.verbose = verbose
        self.debug = debug
        self._err: Console | None = None
        self._out: Console | None = None

    @property
    def err(self) -> Console:
        if self._err is None:
            from rich.console import Console

            self._err = Console(stderr=True, highlight=False, no_color=_no_color(), emoji=False)
        return self._err

    @property
    def out(self) -> Console:
        if self._out is None:
            from rich.console import Console

            # piped output (scripts, logs) is not cut to 80 columns
            width = None if sys.stdout.isatty() else 200
            self._out = Console(highlight=False, no_color=_no_color(), emoji=False, width=width)
        return self._out

    def preload(self) -> None:
        """Import what drawing progress and results takes (rich: ~0.08 s) in a thread, while
        this process waits for the service's first event rather than before its request."""
        import threading

        threading.Thread(target=_import_rich, name="preload-ui", daemon=True).start()

    @property
    def interactive(self) -> bool:
        return self.err.is_terminal

    def info(self, message: str) -> None:
        self.err.print(message, markup=False)

    def detail(self, message: str) -> None:
        if self.verbose:
            self.err.print(message, style="dim", markup=False)

    def success(self, message: str) -> None:
        self.err.print(f"✔ {message}", style="green", markup=False)

    def warning(self, message: str) -> None:
        self.err.print(f"warning: {message}", style="yellow", markup=False)

    def error(self, message: str, hint: str | None = None) -> None:
        self.err.print(f"error: {message}", style="bold red", markup=False, soft_wrap=True)
        if hint:
            self.err.print(f"hint: {hint}", style="cyan", markup=False, soft_wrap=True)

    def json(self, data: Any) -> None:
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
        sys.stdout.flush()

    def table(self, title: str | None, columns: list[str], rows: list[list[Any]]) -> None:
        """A table; columns all empty strings make a header-less key/value table."""
        from rich.table import Table

        table = Table(title=title, show_lines=False, show_header=any(columns))
        for col in columns:
            table.add_column(col)
        for row in rows:
            table.add_row(*["" if v is None else str(v) for v in row])
        self.out.print(table)


def _import_rich() -> None:
    try:
        import rich.console
        import rich.table

        if sys.stderr.isatty():  # the live display (plain lines otherwise)
            import rich.progress  # noqa: F401
    except ImportError:  # the main thread's own import says so
        pass


def _no_color() -> bool:
    return "NO_COLOR" in os.environ


_UI = UI()


def ui() -> UI:
    return _UI


def configure(verbose: int, debug: bool) -> UI:
    _UI.verbose = verbose
    _UI.debug = debug
    return _UI
