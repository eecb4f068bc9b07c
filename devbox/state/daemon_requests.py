"""Requests to the daemon about one lease or one container (``<root>/run/<kind>/<name>``).

A command drops an empty file named after what it asks about in the inbox of its kind and
signals the daemon (SIGUSR1); the daemon takes the requests and does just those, instead of a
whole reconcile of every record with Docker (what a SIGHUP does: 50 detaches at once made 50
reconciles of 50 records and every container's inspect, and so did 50 clones' attaches):

- :data:`RELEASE`, a record key: a detach marked that record DETACHING; the daemon lets go of
  the lease (one record read).
- :data:`ADOPT`, a container name: an attach recorded that container's lease; the daemon takes
  it over (the pass a Docker event makes: that container's records and its inspect).

A request lost (a crash between the file and the signal, a daemon starting) costs nothing: the
daemon's reconcile (every 15 s, and at its start) lets go of every DETACHING record and takes
over every bound one, and a detach asks again while it waits.

Only devbox (root) writes here (``<root>/run`` is 0700); :func:`ask` refuses a name that is
not a plain file name (ValueError), :func:`take` skips what is not a plain file, and nothing
here is ever followed.
"""

from __future__ import annotations

import os
from pathlib import Path

from devbox.paths import Layout

RELEASE = "release"
ADOPT = "adopt"
KINDS = (RELEASE, ADOPT)
MOST = 10_000  # requests taken at once (bounded: new ones may keep arriving)


def inbox(layout: Layout, kind: str) -> Path:
    if kind not in KINDS:
        raise ValueError(f"not a kind of request: {kind!r}")
    return layout.run / kind


def ask(layout: Layout, kind: str, name: str) -> None:
    """Ask about ``name`` (an empty file; there already when asked again)."""
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"not a plain name: {name!r}")
    folder = inbox(layout, kind)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(
        folder / name,
        os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK,
        0o600,
    )
    os.close(fd)


def take(layout: Layout, kind: str) -> list[str]:
    """The names asked about since the last take, each removed from the inbox, sorted."""
    folder = inbox(layout, kind)
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
