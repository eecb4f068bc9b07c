"""Human-readable units for what devbox prints."""

from __future__ import annotations


def human_bytes(size: int | None) -> str:
    """``1536`` -> ``1.5 KiB``; None -> ``-``."""
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def human_duration(seconds: int) -> str:
    """``45`` -> ``45s``, ``90`` -> ``1m30s``, ``7260`` -> ``2h01m``, ``90000`` -> ``1d01h``."""
    seconds = max(0, seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"
