"""Pure bits of the clone/run-on/prune adapters and commands (no root, no Docker)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from devbox.adapters.host import mounts
from devbox.services.runon import RunResult
from tests.refusals import assert_refused

MOUNTINFO = (
    "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
    "99 22 0:55 / /opt/containers/peer\\0401/opt rw,relatime shared:60 - overlay overlay "
    "rw,lowerdir=/opt/containers/snapshots/s/opt,upperdir=/u,workdir=/w\n"
    "garbage line\n"
)


def test_mountinfo_parsing_unescapes(tmp_path: Path) -> None:
    info = tmp_path / "mountinfo"
    info.write_text(MOUNTINFO)
    found = mounts.mounts(info)
    assert [m.target for m in found] == ["/", "/opt/containers/peer 1/opt"]
    assert found[1].fstype == "overlay" and "lowerdir=" in found[1].options


def test_overlay_options_refuse_separators(tmp_path: Path) -> None:
    from devbox.errors import UserError

    spec = mounts.OverlaySpec(tmp_path / "a,b", tmp_path / "u", tmp_path / "w", tmp_path / "m")
    with pytest.raises(UserError):
        spec.options()
    ok = mounts.OverlaySpec(tmp_path / "l", tmp_path / "u", tmp_path / "w", tmp_path / "m")
    assert ok.options() == f"lowerdir={tmp_path}/l,upperdir={tmp_path}/u,workdir={tmp_path}/w"


def test_disk_usage_counts_hardlinks_once(tmp_path: Path) -> None:
    data = tmp_path / "d"
    data.mkdir()
    (data / "a").write_bytes(os.urandom(64 * 1024))
    os.link(data / "a", data / "b")
    (data / "sparse").touch()
    with (data / "sparse").open("r+b") as fh:
        fh.truncate(10 * 1024 * 1024)
    used = mounts.disk_usage(data)
    assert 64 * 1024 <= used < 200 * 1024


def test_run_result_tail() -> None:
    r = RunResult("a", 1, 0.5, stdout="one\ntwo\n\nthree\n", stderr="err\n")
    assert r.tail(2) == ["three", "err"]
    assert not r.ok and RunResult("b", 0, 0.1).ok
    assert r.to_dict()["ok"] is False


def _cli(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "NO_COLOR": "1",
        "HOME": str(tmp_path),
        "DEVBOX_ROOT": str(tmp_path / "root"),
    }
    return subprocess.run(
        [sys.executable, "-m", "devbox", "dockeruser", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def _nothing_made(tmp_path: Path) -> None:
    assert not (tmp_path / "root").exists(), "refused, yet the devbox root was made"


def test_run_on_needs_a_command(tmp_path: Path) -> None:
    result = _cli("run-on", "a", "b", tmp_path=tmp_path)
    assert_refused(result, 2, "no command given", "after '--'")
    _nothing_made(tmp_path)


def test_run_on_needs_targets(tmp_path: Path) -> None:
    result = _cli("run-on", "--", "true", tmp_path=tmp_path)
    assert_refused(result, 2, "no containers given", "--clones-of")
    _nothing_made(tmp_path)


def test_run_on_splits_at_double_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    from devbox.__main__ import main
    from devbox.services import runon

    seen: dict[str, object] = {}

    def fake(cfg: object, names: list[str], command: str, **kw: object) -> list[RunResult]:
        seen.update(names=names, command=command, **kw)
        return [RunResult(n, 0, 0.01, stdout="ok\n") for n in names]

    monkeypatch.setattr(runon, "run_on", fake)
    rc = main(
        [
            "dockeruser",
            "run-on",
            "a",
            "b",
            "--clones-of",
            "src",
            "--json",
            "--",
            "echo",
            "x y",
            "--json",
        ]
    )
    assert rc == 0
    assert seen["names"] == ["a", "b"]
    assert seen["command"] == "echo 'x y' --json"
    assert seen["clones_of"] == "src"
    rc = main(["dockeruser", "run-on", "a", "--json", "--", "echo a; echo b"])
    assert rc == 0 and seen["command"] == "echo a; echo b"


def test_prune_rejects_bad_duration(tmp_path: Path) -> None:
    result = _cli("prune-combos", "--stopped-for", "30x", "--yes", tmp_path=tmp_path)
    assert_refused(result, 2, "'30x' is not a duration", "30d")
    _nothing_made(tmp_path)


def test_make_combo_flag_errors(tmp_path: Path) -> None:
    result = _cli("make-dev-container", "--product", "acme", tmp_path=tmp_path)
    assert_refused(result, 2, "--product and --release go together", "--release 5.2")
    result = _cli("make-dev-container", tmp_path=tmp_path)
    assert_refused(result, 2, "NAME and --branch are required", "--branch main")
    result = _cli("make-dev-container", "--product", "nope", "--release", "1", tmp_path=tmp_path)
    assert_refused(result, 2, "unknown product 'nope'", "known products: acme")
    result = _cli(
        "make-dev-container",
        "--product",
        "acme",
        "--release",
        "5.2",
        "--patch",
        "../etc/passwd",
        tmp_path=tmp_path,
    )
    assert_refused(result, 2, "invalid --patch '../etc/passwd'", "changelist number")
    _nothing_made(tmp_path)


def test_clone_rejects_bad_input_before_docker(tmp_path: Path) -> None:
    result = _cli("clone", "Bad Name", "--count", "2", tmp_path=tmp_path)
    assert_refused(result, 2, "invalid source container name 'Bad Name'", "DNS labels")
    _nothing_made(tmp_path)


def test_remove_needs_name_or_clones_of(tmp_path: Path) -> None:
    result = _cli("remove-dev-container", "--yes", tmp_path=tmp_path)
    assert_refused(result, 2, "which container?", "--clones-of SRC")
    _nothing_made(tmp_path)


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
