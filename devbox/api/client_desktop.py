"""The caller's desktop: open a link with its opener (``xdg-open``), as the caller."""

from __future__ import annotations

from devbox.adapters.host import process

OPENER = "xdg-open"
OPEN_TIMEOUT = 30.0  # seconds xdg-open may take to hand the link to the desktop


def open_link(link: str) -> None:
    """Hand ``link`` to the desktop's opener; NotReadyError (exit 3) with the apt command
    when none is installed, OperationFailed when it fails. Never through a shell."""
    opener = process.require(OPENER, "xdg-utils")
    process.run([opener, link], capture=False, timeout=OPEN_TIMEOUT)
