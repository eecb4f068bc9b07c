"""adapters.process.run: the deadline holds for streamed commands too, and a stuck command's
whole process group is gone afterwards. Real child processes; no timing asserts."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from devbox.adapters.host import process
from devbox.errors import OperationFailed

# prints its pid and a grandchild's pid, then hangs (the grandchild holds the pipe too)
_HANG = (
    "import os, subprocess, sys, time\n"
    "g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
    "print(os.getpid(), g.pid, flush=True)\n"
    "time.sleep(60)\n"
)


def _gone(pid: int, seconds: float = 10.0) -> bool:
    """Whether ``pid`` is gone (or a zombie waiting for init), bounded in time."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except FileNotFoundError:
            return True
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return True
        time.sleep(0.05)
    return False


def test_streamed_sleep_past_its_deadline_is_killed() -> None:
    lines: list[str] = []
    with pytest.raises(OperationFailed) as exc:
        process.run(["sleep", "3"], on_line=lines.append, timeout=0.5)
    assert "sleep 3" in exc.value.message
    assert "hung" in exc.value.message and "killed" in exc.value.message
    assert "\n" not in exc.value.message


@pytest.mark.parametrize("streamed", [True, False])
def test_hung_command_and_its_children_are_gone(streamed: bool) -> None:
    lines: list[str] = []
    on_line = lines.append if streamed else None
    with pytest.raises(OperationFailed) as exc:
        process.run([sys.executable, "-c", _HANG], on_line=on_line, timeout=1.0)
    assert "no exit after 1 s" in exc.value.message
    if streamed:
        pids = [int(p) for p in lines[0].split()]
        assert len(pids) == 2
        for pid in pids:
            assert _gone(pid), f"pid {pid} still alive"


def test_streamed_output_still_arrives_line_by_line() -> None:
    lines: list[str] = []
    result = process.run(
        [sys.executable, "-c", "print('a'); print('b', flush=True)"],
        on_line=lines.append,
        timeout=30,
    )
    assert lines == ["a", "b"]
    assert result.returncode == 0 and result.stdout == "a\nb"


def test_streamed_failure_names_exit_code() -> None:
    with pytest.raises(OperationFailed) as exc:
        process.run(
            [sys.executable, "-c", "import sys; print('bad'); sys.exit(3)"],
            on_line=lambda _l: None,
            timeout=30,
        )
    assert "exit code 3" in exc.value.message and "bad" in exc.value.message


def test_streamed_input_reaches_the_command() -> None:
    lines: list[str] = []
    process.run(
        [sys.executable, "-c", "import sys; print(sys.stdin.read().upper())"],
        on_line=lines.append,
        input=b"hello",
        timeout=30,
    )
    assert lines == ["HELLO"]


def test_no_zombie_or_group_left_after_success() -> None:
    out = process.run(
        [sys.executable, "-c", "import os; print(os.getpid(), os.getpgrp())"], timeout=30
    )
    pid, pgrp = (int(x) for x in out.stdout.split())
    assert pid == pgrp  # its own process group: a deadline kills the whole group
    assert pgrp != os.getpgrp()
