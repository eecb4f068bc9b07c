"""The one way devbox runs an external command (mkosi's ``run()``).

Never through a shell: ``argv`` is a list and every user value is one item of it. The quoted
command is logged, and a failure raises an error naming the command and its exit code.
"""

from __future__ import annotations

import os
import selectors
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from devbox.errors import NotReadyError, OperationFailed
from devbox.oplog import NULL_LOG, OpLog


def require(program: str, package: str) -> str:
    """Path of ``program``, or a NotReadyError with the apt command that installs it."""
    found = shutil.which(program) or shutil.which(program, path="/usr/sbin:/sbin:/usr/bin:/bin")
    if not found:
        raise NotReadyError(
            f"{program} is not installed",
            hint=f"apt-get update && apt-get install -y {package}",
        )
    return found


KILL_GRACE = 2.0  # seconds between SIGTERM and SIGKILL to a stuck command's process group


def run(
    argv: Sequence[str | Path],
    *,
    log: OpLog = NULL_LOG,
    check: bool = True,
    capture: bool = True,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float | None = None,
    preexec: Callable[[], None] | None = None,
    on_line: Callable[[str], None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command. With ``on_line``, stream merged stdout/stderr lines to it (and the log).

    ``timeout`` is one deadline for the whole command, streamed or not: past it the command's
    process group (it runs in a session of its own) is killed and OperationFailed says so.
    An exception here (Ctrl-C) kills the group too, so nothing is left running behind us.
    """
    args = [str(a) for a in argv]
    quoted = shlex.join(args)
    log.write(f"$ {quoted}")
    deadline = None if timeout is None else time.monotonic() + timeout
    streamed = on_line is not None
    try:
        proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE
            if input is not None
            else (subprocess.DEVNULL if streamed else None),
            stdout=subprocess.PIPE if (capture or streamed) else None,
            stderr=subprocess.STDOUT if streamed else (subprocess.PIPE if capture else None),
            env=dict(env) if env is not None else None,
            cwd=cwd,
            preexec_fn=preexec,
            text=not streamed,
            start_new_session=True,
        )
    except FileNotFoundError:
        raise NotReadyError(f"command not found: {args[0]}") from None
    try:
        if on_line is not None:
            lines = _stream(proc, input, on_line, log, deadline)
            if lines is None:
                rc = None
            else:
                rc = proc.wait(timeout=_left(deadline))
            result = subprocess.CompletedProcess(
                args, rc if rc is not None else -9, "\n".join(lines or []), ""
            )
        else:
            out, err = proc.communicate(
                input=input.decode() if input is not None else None, timeout=_left(deadline)
            )
            rc = proc.returncode
            result = subprocess.CompletedProcess(args, rc, out, err)
    except subprocess.TimeoutExpired:
        rc = None
    except BaseException:
        _kill_group(proc)
        raise
    if rc is None:
        _kill_group(proc)
        assert timeout is not None
        short = shlex.join([Path(args[0]).name, *args[1:]])
        if len(short) > 80:
            short = short[:77] + "..."
        log.write(f"  hung: no exit after {timeout:g} s; killed: {quoted}")
        raise OperationFailed(
            f"'{short}' hung: no exit after {timeout:g} s; killed",
            hint=f"command: {quoted}" + (f"; log: {log.path}" if log.path else ""),
        )
    if result.returncode != 0:
        tail = (result.stderr or result.stdout or "").strip().splitlines()[-5:]
        for line in tail:
            log.write(f"  ! {line}")
        log.write(f"  exit code {result.returncode}: {quoted}")
        if check:
            last = tail[-1] if tail else ""
            raise OperationFailed(
                f"'{Path(args[0]).name}' failed with exit code {result.returncode}"
                + (f": {last}" if last else ""),
                hint=f"command: {quoted}" + (f"; log: {log.path}" if log.path else ""),
            )
    return result


def _left(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def _stream(
    proc: subprocess.Popen[bytes],
    input: bytes | None,
    on_line: Callable[[str], None],
    log: OpLog,
    deadline: float | None,
) -> list[str] | None:
    """Lines of ``proc``'s merged output, passed on as they come; None if the deadline passed
    first. Reads with select(): a command that prints nothing (or a child that keeps the pipe)
    cannot hold us past the deadline."""
    assert proc.stdout is not None
    if input is not None and proc.stdin is not None:
        try:
            proc.stdin.write(input)
            proc.stdin.close()
        except BrokenPipeError:
            pass
    fd = proc.stdout.fileno()
    lines: list[str] = []
    pending = b""

    def emit(raw: bytes) -> None:
        line = raw.decode(errors="replace").rstrip("\r")
        lines.append(line)
        log.write(f"  | {line}")
        on_line(line)

    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while True:
            left = _left(deadline)
            if left is not None and left <= 0:
                return None
            if not sel.select(left):
                continue  # the loop's check ends it: the deadline passed
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            pending += chunk
            *whole, pending = pending.split(b"\n")
            for raw in whole:
                emit(raw)
    if pending:
        emit(pending)
    proc.stdout.close()
    return lines


def _kill_group(proc: subprocess.Popen[Any]) -> None:
    """SIGTERM the command's process group, SIGKILL it after KILL_GRACE; reap the command."""
    for sig, grace in ((signal.SIGTERM, KILL_GRACE), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            continue
        if sig == signal.SIGTERM:
            try:  # the leader is gone; its children in the group go too
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        break
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            try:
                pipe.close()
            except OSError:
                pass


def run_interactive(argv: Sequence[str]) -> int:
    """Run a command attached to this terminal; return its exit code."""
    return subprocess.run(list(argv), check=False).returncode


def replace_process(argv: Sequence[str]) -> None:
    """Hand the terminal over to ``argv`` (exec); does not return."""
    os.execvp(argv[0], list(argv))
