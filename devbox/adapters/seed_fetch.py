"""Fetch and unpack an /opt seed: a tarball (local or http(s)) or a directory, with byte progress.

Extraction refuses absolute paths, ``..`` and links pointing outside the target (tarfile's
``data`` filter) and keeps numeric owners so files belong to the container's users.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import IO

from devbox.errors import OperationFailed, UserError

Progress = Callable[[int, int | None], None]  # (bytes done, total or None)


class _CountingReader:
    def __init__(self, raw: IO[bytes], progress: Progress, total: int | None) -> None:
        self.raw = raw
        self.done = 0
        self.progress = progress
        self.total = total

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.done += len(data)
        self.progress(self.done, self.total)
        return data


def _extract(stream: IO[bytes], target: Path) -> int:
    count = 0
    with tarfile.open(fileobj=stream, mode="r|*") as tar:
        for member in tar:
            tar.extract(member, target, filter="data", numeric_owner=True)
            count += 1
    return count


def unpack(source: str, target: Path, progress: Progress, timeout: float = 60.0) -> int:
    """Put ``source`` into ``target``; return the number of entries written."""
    target.mkdir(parents=True, exist_ok=True)
    if source.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(source, timeout=timeout) as resp:
                length = resp.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                return _extract(_CountingReader(resp, progress, total), target)  # type: ignore[arg-type]
        except (OSError, tarfile.TarError) as err:
            raise OperationFailed(f"/opt seed {source}: {err}",
                                  hint="check the URL in roles/dockeruser/opt-seeds.toml "
                                       "or --opt-seed") from err
    path = Path(source)
    if path.is_dir():
        return _copy_dir(path, target, progress)
    if not path.is_file():
        raise UserError(f"/opt seed {source} does not exist",
                        hint="give a tarball, a directory or an http(s) URL (--opt-seed)")
    total = path.stat().st_size
    try:
        with path.open("rb") as fh:
            return _extract(_CountingReader(fh, progress, total), target)  # type: ignore[arg-type]
    except tarfile.TarError as err:
        raise UserError(f"/opt seed {source} is not a readable tarball: {err}") from err


def _copy_dir(src: Path, target: Path, progress: Progress) -> int:
    files = [(Path(root), name) for root, _dirs, names in os.walk(src) for name in names]
    total = sum((root / name).lstat().st_size for root, name in files)
    done = 0
    count = 0
    for root, dirs, names in os.walk(src):
        rel = Path(root).relative_to(src)
        (target / rel).mkdir(parents=True, exist_ok=True)
        shutil.copystat(root, target / rel)
        count += len(dirs)
        for name in names:
            s, d = Path(root) / name, target / rel / name
            if s.is_symlink():
                if d.is_symlink() or d.exists():
                    d.unlink()
                d.symlink_to(os.readlink(s))
            else:
                shutil.copy2(s, d)
                done += s.stat().st_size
            count += 1
            progress(done, total)
    return count


def du_bytes(path: Path) -> int:
    """Disk usage of a tree (allocated blocks), like ``du -s`` in bytes."""
    total = 0
    stack = [path]
    while stack:
        current = stack.pop()
        try:
            with os.scandir(current) as it:
                for entry in it:
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    total += st.st_blocks * 512
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(Path(entry.path))
        except OSError:
            continue
    return total
