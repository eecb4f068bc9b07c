"""The spool of ``move``: one folder per export or import, ``<root>/run/moves/<id>/``, with
its record (``record.json``: kind, the caller's uid, the container's name) and the image and
/opt files streamed out of it or into it. Only the caller who made one (or an admin) may
use it: every access checks the record."""

from __future__ import annotations

import re
import secrets
import shutil
import time
from pathlib import Path
from typing import Any

from devbox.errors import DevboxError, UserError
from devbox.jsonfile import read_json, write_json
from devbox.model.owners import Caller
from devbox.paths import Layout

_ID = re.compile(r"[0-9a-f]{16}")
IMAGE = "image.tar"
OPT = "opt.tar"
ABANDONED = 86400.0  # seconds an import may go unwritten before the next spool drops it


def new(layout: Layout, kind: str, caller: Caller, data: dict[str, Any]) -> tuple[str, Path]:
    """A new spool folder (0700) and its record; returns (id, folder). Imports abandoned
    before it go first (:func:`sweep_imports`)."""
    layout.moves.mkdir(parents=True, exist_ok=True, mode=0o700)
    sweep_imports(layout)
    spool_id = secrets.token_hex(8)
    folder = layout.moves / spool_id
    folder.mkdir(mode=0o700)
    record = {"kind": kind, "uid": caller.uid, "user": caller.user, "made": time.time(), **data}
    write_json(folder / "record.json", record, mode=0o600)
    return spool_id, folder


def load(layout: Layout, kind: str, spool_id: str, caller: Caller) -> tuple[Path, dict[str, Any]]:
    """The folder and record of ``kind`` ``spool_id``, refused (exit 2) when there is none or
    it is another user's."""
    folder = layout.moves / spool_id
    record = None
    if _ID.fullmatch(spool_id) and (folder / "record.json").is_file():
        record = read_json(folder / "record.json")
    if record is None or record.get("kind") != kind:
        raise UserError(f"no {kind} {spool_id!r} on this host")
    if not caller.admin and int(record.get("uid", -1)) != caller.uid:
        raise UserError(f"{kind} {spool_id} is {record.get('user')}'s")
    return folder, record


def update(folder: Path, **data: Any) -> None:
    record = read_json(folder / "record.json")
    write_json(folder / "record.json", {**record, **data}, mode=0o600)


def drop(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def sweep_imports(layout: Layout, now: float | None = None) -> list[str]:
    """Drop the imports nothing has written to for :data:`ABANDONED` seconds: their client
    died or lost this host half-way (kill -9, a broken SSH session), and an image tar is
    hundreds of MB. An import being filled writes its part file all the time; one reserved
    waits for its source's export before its first byte (a big /opt: minutes, so a day is
    the bound, not an hour). Exports are left alone: dropping one decides about its source
    container (restart or not), which is its client's. Returns the ids dropped."""
    now = time.time() if now is None else now
    dropped = []
    for folder in sorted(layout.moves.iterdir()) if layout.moves.is_dir() else []:
        if not _ID.fullmatch(folder.name) or folder.is_symlink() or not folder.is_dir():
            continue
        try:
            if read_json(folder / "record.json").get("kind") != "import":
                continue
            written = max(p.lstat().st_mtime for p in [folder, *folder.iterdir()])
        except (OSError, ValueError, DevboxError):
            continue  # unreadable: not known to be an import, left alone
        if now - written >= ABANDONED:
            drop(folder)
            dropped.append(folder.name)
    return dropped
