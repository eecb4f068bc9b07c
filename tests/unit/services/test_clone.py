"""A clone cancelled between steps rolls back."""

from __future__ import annotations

import pytest


def test_cancel_rolls_back_a_clone_between_steps() -> None:
    import threading

    from devbox.errors import Interrupted
    from devbox.oplog import OpLog
    from devbox.services.clone import _cancellable
    from devbox.steps import Step, StepContext, run_steps

    cancel = threading.Event()
    done: list[str] = []

    def first(ctx: StepContext) -> None:
        done.append("first")
        ctx.undo("undo first", lambda: done.append("undone"))
        cancel.set()  # Ctrl-C arrives while this step runs

    def second(ctx: StepContext) -> None:
        done.append("second")

    with pytest.raises(Interrupted):
        run_steps("clone", _cancellable([Step("a", first), Step("b", second)], cancel), OpLog(None))
    assert done == ["first", "undone"]
