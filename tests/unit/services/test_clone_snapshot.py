"""The names a clone batch must not take are read in one list of the engine's containers; a
source the kernel's freezer could not pause is paused again (bounded)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from devbox.adapters.docker import containers as dc
from devbox.errors import OperationFailed
from devbox.oplog import OpLog
from devbox.paths import Layout
from devbox.services import clone_snapshot
from devbox.steps import SilentReporter, StepContext


def test_existing_names_list_the_containers_without_inspecting_each(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def summaries(label: str, all_states: bool = True) -> list[dc.ContainerSummary]:
        assert label == "devbox.role" and all_states
        return [
            dc.ContainerSummary(n, f"id-{n}", "running", {"devbox.role": "dockeruser"}, "img", "")
            for n in ("a", "b-c1")
        ]

    def inspected(*args: object, **kwargs: object) -> object:
        raise AssertionError("an inspect of every devbox container on the host")

    monkeypatch.setattr(dc, "list_summaries", summaries)
    monkeypatch.setattr(dc, "list_labeled", inspected)
    monkeypatch.setattr(dc, "inspect", inspected)
    layout = Layout(tmp_path)
    (layout.containers / "made-not-started").mkdir(parents=True)
    assert clone_snapshot.existing_names(layout) == {"a", "b-c1", "made-not-started"}


def _freeze_job(tmp_path: Path) -> Any:
    from devbox import config
    from devbox.oplog import OpLog

    cfg = config.load(environ={"DEVBOX_ROOT": str(tmp_path / "root")}, files=())
    st = cast(Any, SimpleNamespace(running=True))
    return clone_snapshot.FreezeJob(
        cfg, "src", st, tmp_path / "opt", "src-1", {}, OpLog(None), cast(Any, None)
    )


def _pauses(monkeypatch: pytest.MonkeyPatch, failures: int) -> list[str]:
    """pause_guard.frozen failing ``failures`` times as the kernel's freezer does."""
    from devbox.services import pause_guard

    calls: list[str] = []

    @contextmanager
    def frozen(cfg: object, name: str, running: bool) -> Iterator[None]:
        calls.append("pause")
        if len(calls) <= failures:
            raise OperationFailed(
                f"pause container {name}: Cannot pause container 444b: OCI runtime pause "
                "failed: unable to freeze: unknown"
            )
        yield

    monkeypatch.setattr(pause_guard, "frozen", frozen)
    monkeypatch.setattr(clone_snapshot, "PAUSE_RETRY_WAIT", 0.0)
    return calls


def test_a_source_the_freezer_could_not_pause_is_paused_again(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """runc's "unable to freeze" (a task of SRC asleep in I/O; SRC left running, nothing
    made): the freeze tries again, bounded, instead of failing the whole clone run."""
    calls = _pauses(monkeypatch, failures=clone_snapshot.PAUSE_TRIES - 1)
    done: list[str] = []
    monkeypatch.setattr(
        clone_snapshot, "_commit_and_copy_paused", lambda job, repo, tag: done.append(tag)
    )
    ctx = StepContext("commit + /opt snapshot", OpLog(None), SilentReporter())
    clone_snapshot.commit_and_copy(_freeze_job(tmp_path), ctx)
    assert calls == ["pause"] * clone_snapshot.PAUSE_TRIES
    assert len(done) == 1


def test_the_freezer_giving_up_every_time_fails_the_freeze(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls = _pauses(monkeypatch, failures=clone_snapshot.PAUSE_TRIES + 1)
    ctx = StepContext("commit + /opt snapshot", OpLog(None), SilentReporter())
    with pytest.raises(OperationFailed, match="unable to freeze"):
        clone_snapshot.commit_and_copy(_freeze_job(tmp_path), ctx)
    assert len(calls) == clone_snapshot.PAUSE_TRIES


def test_a_failure_while_paused_is_not_retried(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls = _pauses(monkeypatch, failures=0)

    def copy_fails(job: object, repo: str, tag: str) -> None:
        raise OperationFailed("cp: unable to freeze (a message that only looks alike)")

    monkeypatch.setattr(clone_snapshot, "_commit_and_copy_paused", copy_fails)
    ctx = StepContext("commit + /opt snapshot", OpLog(None), SilentReporter())
    with pytest.raises(OperationFailed, match="only looks alike"):
        clone_snapshot.commit_and_copy(_freeze_job(tmp_path), ctx)
    assert calls == ["pause"]
