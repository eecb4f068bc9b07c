"""The one way devbox runs an external command (mkosi's ``run()``).

Never through a shell: ``argv`` is a list and every user value is one item of it. The quoted
command is logged, and a failure raises an error naming the command and its exit code.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

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
    """Run a command. With ``on_line``, stream merged stdout/stderr lines to it (and the log)."""
    args = [str(a) for a in argv]
    quoted = shlex.join(args)
    log.write(f"$ {quoted}")
    try:
        if on_line is not None:
            proc = subprocess.Popen(
                args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                env=dict(env) if env is not None else None, cwd=cwd, preexec_fn=preexec,
                text=True, bufsize=1,
            )
            if input is not None and proc.stdin:
                proc.stdin.write(input.decode())
                proc.stdin.close()
            lines: list[str] = []
            assert proc.stdout is not None
            try:
                for raw in proc.stdout:
                    line = raw.rstrip("\n")
                    lines.append(line)
                    log.write(f"  | {line}")
                    on_line(line)
                rc = proc.wait(timeout=timeout)
            except BaseException:
                proc.kill()
                proc.wait()
                raise
            result = subprocess.CompletedProcess(args, rc, "\n".join(lines), "")
        else:
            result = subprocess.run(
                args, capture_output=capture, input=input.decode() if input else None,
                env=dict(env) if env is not None else None, cwd=cwd, timeout=timeout,
                preexec_fn=preexec, text=True, check=False,
            )
    except FileNotFoundError:
        raise NotReadyError(f"command not found: {args[0]}") from None
    except subprocess.TimeoutExpired:
        log.write(f"  timed out after {timeout}s: {quoted}")
        raise OperationFailed(f"'{args[0]}' timed out after {timeout:.0f}s",
                              hint=f"command: {quoted}") from None
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


def run_interactive(argv: Sequence[str]) -> int:
    """Run a command attached to this terminal; return its exit code."""
    return subprocess.run(list(argv), check=False).returncode


def replace_process(argv: Sequence[str]) -> None:
    """Hand the terminal over to ``argv`` (exec); does not return."""
    import os

    os.execvp(argv[0], list(argv))
