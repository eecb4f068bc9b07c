"""The host's free memory, from /proc/meminfo (``MemAvailable``: what new work may take
without swapping, as the kernel estimates it)."""

from __future__ import annotations

from pathlib import Path

MEMINFO = Path("/proc/meminfo")


def available(path: Path = MEMINFO) -> int:
    """Bytes of MemAvailable; 0 when the file does not say."""
    try:
        with open(path, encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return 0
    return 0
