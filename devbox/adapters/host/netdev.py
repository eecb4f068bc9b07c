"""A process's network namespace counters, from the host's ``/proc/PID/net/dev``.

The file is the kernel's (procfs), not the container's tree: nothing a tenant wrote is read.
A process that exits (its PID taken by another) while it is read is not reported: its start
time is read before and after."""

from __future__ import annotations

from pathlib import Path

PROC = Path("/proc")


def _start_time(pid: int) -> str | None:
    try:
        stat = (PROC / str(pid) / "stat").read_text(errors="replace")
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after the last ')'
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else None


def net_dev_text(pid: int) -> str | None:
    """The text of ``/proc/PID/net/dev`` (None: no such process, or it changed meanwhile)."""
    if pid <= 0:
        return None
    before = _start_time(pid)
    if before is None:
        return None
    try:
        with open(PROC / str(pid) / "net" / "dev", encoding="ascii", errors="replace") as fh:
            text = fh.read(1 << 20)
    except OSError:
        return None
    return text if _start_time(pid) == before else None
