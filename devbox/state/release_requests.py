"""A detach's request to the daemon to let go of one lease (``<root>/run/release/<key>``).

A detach marks its record DETACHING, drops an empty file named after the record key here and
signals the daemon (SIGUSR1): the daemon lets go of just those leases, reading one record
each, instead of reconciling every record with Docker (what a SIGHUP does: 50 detaches at once
made 50 reconciles of 50 records and every container's inspect). A request lost (a crash
between the file and the signal, a daemon starting) costs nothing: the daemon's reconcile
lets go of every DETACHING record too, and the detach asks again while it waits.

Only devbox (root) writes here (``<root>/run`` is 0700); a name that is not a plain file name
is ignored, and nothing here is ever followed.
"""

from __future__ import annotations

import os
from pathlib import Path

from devbox.paths import Layout

MOST = 10_000  # requests taken at once (bounded: new ones may keep arriving)


def ask(layout: Layout, key: str) -> None:
    """Ask for ``key``'s lease (an empty file; there already when asked again)."""
    if not key or "/" in key or key.startswith("."):
        raise ValueError(f"not a record key: {key!r}")
    folder = layout.release_requests
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(
        folder / key, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, 0o600
    )
    os.close(fd)


def take(layout: Layout) -> list[str]:
    """The keys asked for since the last take, each removed from the inbox, sorted."""
    folder: Path = layout.release_requests
    try:
        entries = os.scandir(folder)
    except FileNotFoundError:
        return []
    out: list[str] = []
    with entries:
        for entry in entries:
            if len(out) >= MOST:
                break
            # what it is, before it goes (a directory entry without a type is a stat)
            wanted = not entry.name.startswith(".") and entry.is_file(follow_symlinks=False)
            try:
                os.unlink(folder / entry.name)
            except (FileNotFoundError, IsADirectoryError):
                continue  # taken by another reader
            if wanted:
                out.append(entry.name)
    return sorted(out)
