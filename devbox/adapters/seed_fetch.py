"""Fetch and unpack an /opt seed: a tarball (local or http(s)) or a directory, with byte progress.

A URL is downloaded first, into a 0600 temp file in a devbox-owned directory (beside the
container's /opt, never inside it), within ``seeds.max_bytes`` and ``seeds.timeout`` (the whole
download's wall time, not only each socket read), its sha256 checked when the seed map gives
one; only then is it extracted. Redirects to another scheme than http(s), or from https to
http, are refused.

Extraction refuses absolute paths, ``..`` and links pointing outside the target (tarfile's
``data`` filter; it drops owners: files are root's until a make chowns a new /opt), and never
follows a link a container left in a kept /opt (every write goes through ``adapters.rootfs``).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import socket
import ssl
import tarfile
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from devbox.errors import OperationFailed, UserError

if TYPE_CHECKING:
    from devbox.adapters.host.rootfs import RootDir
    from devbox.config import Config

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


def _label(target: Path) -> str:
    return f"the /opt tree {target}"


def _put_member(root: RootDir, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
    from pathlib import PurePosixPath

    name = member.name
    if PurePosixPath(name) == PurePosixPath("."):
        return
    if member.isdir():
        if not root.mkdir(name, 0o755 if member.mode is None else member.mode, parents=True):
            root.set_attrs(name, member.mode)
    elif member.isreg():
        data = tar.extractfile(member)
        root.write_file(
            name,
            data if data is not None else b"",
            0o644 if member.mode is None else member.mode,
            parents=True,
            mtime=member.mtime,
        )
    elif member.issym():
        root.symlink(name, member.linkname, parents=True)
    elif member.islnk():
        root.hardlink(name, member.linkname, parents=True)
    # anything else (devices, fifos) the data filter has refused already


def _extract(stream: IO[bytes], target: Path) -> int:
    """Unpack into ``target``, which may be a kept /opt a container wrote: tarfile's data
    filter vets names and link targets, and every entry goes in through
    :class:`devbox.adapters.host.rootfs.RootDir`, so a link the tenant left in the tree is never
    followed (refused, naming it) and one at an entry's own place is replaced."""
    from devbox.adapters.host.rootfs import RootDir

    count = 0
    dest = os.path.realpath(target)
    with (
        RootDir.open(target, _label(target)) as root,
        tarfile.open(fileobj=stream, mode="r|*") as tar,
    ):
        for member in tar:
            _put_member(root, tar, tarfile.data_filter(member, dest))
            count += 1
    return count


def unpack(
    source: str,
    target: Path,
    progress: Progress,
    timeout: float = 60.0,
    *,
    sha256: str = "",
    limits: FetchLimits | None = None,
    tmp_dir: Path | None = None,
) -> int:
    """Put ``source`` into ``target``; return the number of entries written.

    ``timeout`` bounds each socket operation, ``limits`` the whole download (size, wall time,
    CA bundle); ``sha256`` (hex), when given, must match the tarball before anything is
    extracted. A URL is downloaded into ``tmp_dir`` (default: ``target``'s parent)."""
    want = check_sha256(sha256) if sha256 else ""
    target.mkdir(parents=True, exist_ok=True)
    if source.startswith(("http://", "https://")):
        return _unpack_url(
            source,
            target,
            progress,
            timeout,
            want,
            limits or FetchLimits(),
            tmp_dir or target.parent,
        )
    path = Path(source)
    if path.is_dir():
        if want:
            raise UserError(
                f"/opt seed {source} is a directory; a sha256 is for tarballs",
                hint="drop sha256 from its opt-seeds.toml entry",
            )
        return _copy_dir(path, target, progress)
    if not path.is_file():
        raise UserError(
            f"/opt seed {source} does not exist",
            hint="give a tarball, a directory or an http(s) URL (--opt-seed)",
        )
    if want:
        _verify_sha256(source, _file_sha256(path), want)
    total = path.stat().st_size
    try:
        with path.open("rb") as fh:
            return _extract(_CountingReader(fh, progress, total), target)  # type: ignore[arg-type]
    except tarfile.TarError as err:
        raise UserError(f"/opt seed {source} is not a readable tarball: {err}") from err


# -- fetching a URL ------------------------------------------------------------------------

DEFAULT_MAX_BYTES = 4 * 1024**3
DEFAULT_TIMEOUT = 1800.0
MAX_REDIRECTS = 5
CHUNK = 1 << 16
_SHA256_RE = re.compile(r"[0-9a-fA-F]{64}")
_URL_HINT = "check the URL in roles/dockeruser/opt-seeds.toml or --opt-seed"


@dataclass(frozen=True)
class FetchLimits:
    """Bounds of one seed download: bytes, overall wall time, CA bundle for https."""

    max_bytes: int = DEFAULT_MAX_BYTES
    timeout: float = DEFAULT_TIMEOUT
    ca_file: Path | None = None

    @classmethod
    def from_config(cls, cfg: Config) -> FetchLimits:
        ca = cfg.text("seeds.ca_file")
        return cls(
            cfg.integer("seeds.max_bytes"), cfg.number("seeds.timeout"), Path(ca) if ca else None
        )


def check_sha256(text: str) -> str:
    """A sha256 as 64 hex digits (any case; returned lowercase), else a UserError."""
    if not isinstance(text, str) or not _SHA256_RE.fullmatch(text):
        raise UserError(
            f"invalid sha256 {text!r} for an /opt seed",
            hint="give the tarball's sha256 as 64 hex digits (sha256sum FILE)",
        )
    return text.lower()


def _verify_sha256(source: str, got: str, want: str) -> None:
    if got != want:
        raise OperationFailed(
            f"/opt seed {source}: sha256 {got} does not match the expected "
            f"{want}; nothing extracted",
            hint="the file changed, or the sha256 in roles/dockeruser/opt-seeds.toml is wrong",
        )


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _unpack_url(
    url: str,
    target: Path,
    progress: Progress,
    socket_timeout: float,
    want: str,
    limits: FetchLimits,
    tmp_dir: Path,
) -> int:
    part, got = fetch(url, tmp_dir, progress, limits, socket_timeout)
    try:
        if want:
            _verify_sha256(url, got, want)
        size = part.stat().st_size
        try:
            with part.open("rb") as fh:
                return _extract(_CountingReader(fh, progress, size), target)  # type: ignore[arg-type]
        except tarfile.TarError as err:
            raise OperationFailed(
                f"/opt seed {url} is not a readable tarball: {err}", hint=_URL_HINT
            ) from err
    finally:
        part.unlink(missing_ok=True)


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def fetch(
    url: str,
    dest_dir: Path,
    progress: Progress,
    limits: FetchLimits | None = None,
    socket_timeout: float = 60.0,
) -> tuple[Path, str]:
    """Download ``url`` into a new 0600 file in ``dest_dir``; return (path, sha256 hex).

    Enforced: at most ``limits.max_bytes``, all of it within ``limits.timeout`` seconds (each
    socket read waits at most what is left), no redirect off https or to another scheme.
    On any failure the partial file is removed and the error is one line."""
    limits = limits or FetchLimits()
    deadline = time.monotonic() + limits.timeout
    dest_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".seed-", suffix=".part", dir=dest_dir)
    part = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            digest = _download(url, out, progress, limits, deadline, socket_timeout)
        return part, digest
    except BaseException:
        part.unlink(missing_ok=True)
        raise


def _left(url: str, limits: FetchLimits, deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise OperationFailed(
            f"/opt seed {url}: download not finished within {limits.timeout:g}s; nothing extracted",
            hint="raise seeds.timeout, or use a faster or nearer server",
        )
    return left


def _connect(
    url: str,
    limits: FetchLimits,
    deadline: float,
    socket_timeout: float,
) -> tuple[http.client.HTTPConnection, socket.socket | None, http.client.HTTPResponse]:
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        parts = urllib.parse.urlsplit(current)
        scheme = parts.scheme.lower()
        wait = min(socket_timeout, _left(url, limits, deadline))
        conn: http.client.HTTPConnection
        if scheme == "https":
            ctx = ssl.create_default_context(cafile=str(limits.ca_file) if limits.ca_file else None)
            conn = http.client.HTTPSConnection(
                parts.hostname or "", parts.port, timeout=wait, context=ctx
            )
        elif scheme == "http":
            conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=wait)
        else:
            raise UserError(
                f"/opt seed {url}: only http and https URLs are fetched", hint=_URL_HINT
            )
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn.request("GET", target, headers={"User-Agent": "devbox", "Accept-Encoding": "identity"})
        sock = conn.sock  # kept: the response reads through it (timeouts set per read)
        resp = conn.getresponse()
        if resp.status in (301, 302, 303, 307, 308):
            location = resp.getheader("Location") or ""
            resp.close()
            conn.close()
            new = urllib.parse.urljoin(current, location.strip())
            new_scheme = urllib.parse.urlsplit(new).scheme.lower()
            if (
                not location
                or new_scheme not in ("http", "https")
                or (scheme == "https" and new_scheme != "https")
            ):
                raise OperationFailed(
                    f"/opt seed {url}: refused a redirect from {scheme} to "
                    f"{new_scheme or 'nowhere'}; nothing extracted",
                    hint="seeds are fetched over http(s) only, and never from https down to "
                    "http; point the seed map at the final URL",
                )
            current = new
            continue
        if resp.status != 200:
            resp.close()
            conn.close()
            raise OperationFailed(
                f"/opt seed {url}: HTTP {resp.status} {resp.reason}", hint=_URL_HINT
            )
        return conn, sock, resp
    raise OperationFailed(f"/opt seed {url}: more than {MAX_REDIRECTS} redirects", hint=_URL_HINT)


def _too_big(url: str, limits: FetchLimits, size: int | str) -> OperationFailed:
    return OperationFailed(
        f"/opt seed {url} is larger than seeds.max_bytes "
        f"({limits.max_bytes} bytes; {size}); nothing extracted",
        hint="raise seeds.max_bytes if this seed is meant to be that big",
    )


def _download(
    url: str,
    out: IO[bytes],
    progress: Progress,
    limits: FetchLimits,
    deadline: float,
    socket_timeout: float,
) -> str:
    digest = hashlib.sha256()
    try:
        conn, sock, resp = _connect(url, limits, deadline, socket_timeout)
        try:
            length = resp.getheader("Content-Length") or ""
            total = int(length) if length.strip().isdigit() else None
            if total is not None and total > limits.max_bytes:
                raise _too_big(url, limits, f"it says {total}")
            done = 0
            while True:
                left = _left(url, limits, deadline)
                if sock is not None:
                    sock.settimeout(max(0.01, min(socket_timeout, left)))
                try:
                    chunk = resp.read1(CHUNK)
                except TimeoutError as err:
                    _left(url, limits, deadline)  # the overall limit, if that is what it was
                    raise OperationFailed(
                        f"/opt seed {url}: no data for {socket_timeout:g}s", hint=_URL_HINT
                    ) from err
                if not chunk:
                    break
                done += len(chunk)
                if done > limits.max_bytes:
                    raise _too_big(url, limits, f"more than {done} sent")
                digest.update(chunk)
                out.write(chunk)
                progress(done, total)
            if total is not None and done != total:
                raise OperationFailed(
                    f"/opt seed {url}: got {done} of {total} bytes", hint=_URL_HINT
                )
        finally:
            resp.close()
            conn.close()
    except (OSError, http.client.HTTPException) as err:
        raise OperationFailed(f"/opt seed {url}: {_one_line(err)}", hint=_URL_HINT) from err
    return digest.hexdigest()


def _copy_dir(src: Path, target: Path, progress: Progress) -> int:
    """Copy the seed directory ``src`` into ``target`` through
    :class:`devbox.adapters.host.rootfs.RootDir` (as :func:`_extract`: nothing in ``target`` is
    followed)."""
    from pathlib import PurePosixPath

    from devbox.adapters.host.rootfs import RootDir

    files = [(Path(root), name) for root, _dirs, names in os.walk(src) for name in names]
    total = sum((root / name).lstat().st_size for root, name in files)
    done = 0
    count = 0
    with RootDir.open(target, _label(target)) as dest:
        for root, dirs, names in os.walk(src):
            rel = PurePosixPath(Path(root).relative_to(src).as_posix())
            if rel != PurePosixPath("."):
                dest.mkdir(rel, parents=True)
            st = os.stat(root)
            dest.set_attrs(rel, st.st_mode, mtime=st.st_mtime)
            count += len(dirs)
            for name in names:
                s = Path(root) / name
                if s.is_symlink():
                    dest.symlink(rel / name, os.readlink(s))
                else:
                    sst = s.stat()
                    with s.open("rb") as fh:
                        dest.write_file(rel / name, fh, sst.st_mode, mtime=sst.st_mtime)
                    done += sst.st_size
                count += 1
                progress(done, total)
    return count
