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


def test_removals_at_once_are_bounded_by_the_host() -> None:
    from devbox.services.clone import removal_workers

    assert removal_workers(50, 2) == 8  # four per CPU
    assert removal_workers(50, 1) == 4
    assert removal_workers(50, 64) == 8  # at most 8
    assert removal_workers(3, 8) == 3  # never more than there are clones
    assert removal_workers(0, 2) == 1
    assert removal_workers(5, 0) == 4  # an unknown CPU count counts as one
