"""Bootstrapping a root filesystem: mirror checks, debootstrap/dnf/yum runs, rootfs tweaks and
the tar stream that Docker imports."""

from __future__ import annotations

import os
import shutil
import tarfile
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from devbox.errors import OperationFailed
from devbox.model.bootstrap_plan import Prepare
from devbox.oplog import NULL_LOG, OpLog

CHUNK = 1 << 20


def check_mirror(url: str, setting: str, timeout: float = 5.0, mirror: str = "") -> None:
    """Fail fast, naming the mirror, when ``url`` (a file below ``mirror``) does not answer."""
    hint = (
        f"set '{setting}' (env DEVBOX_{setting.upper().replace('.', '_')}) to a reachable "
        "mirror, or check the network/proxy"
    )
    base = mirror or url
    if url.startswith("file://"):
        if not Path(url[len("file://") :]).exists():
            raise OperationFailed(
                f"mirror {base} ({setting}) is unreachable: {url} not found", hint=hint
            )
        return
    request = urllib.request.Request(url, method="GET", headers={"User-Agent": "devbox"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            resp.read(1)
    except urllib.error.HTTPError as err:
        raise OperationFailed(
            f"mirror {base} ({setting}) answered HTTP {err.code} for {url}", hint=hint
        ) from err
    except (urllib.error.URLError, OSError, TimeoutError) as err:
        reason = getattr(err, "reason", None) or err
        raise OperationFailed(
            f"mirror {base} ({setting}) is unreachable: {reason}", hint=hint
        ) from err


def run_bootstrap(
    argv: Sequence[str],
    log: OpLog = NULL_LOG,
    on_line: Callable[[str], None] | None = None,
    env: dict[str, str] | None = None,
) -> None:
    from devbox.adapters.host import process

    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env.setdefault("DEBIAN_FRONTEND", "noninteractive")
    process.run(argv, log=log, env=full_env, on_line=on_line or (lambda _line: None), timeout=3600)


def write_files(files: dict[Path, str]) -> None:
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def _inside(root: Path, rel: str) -> Path:
    path = root / rel
    if os.path.commonpath([str(root), os.path.abspath(path)]) != str(root):
        raise OperationFailed(f"refusing to touch {rel}: outside {root}")
    return path


def prepare_rootfs(root: Path, plan: Prepare, log: OpLog = NULL_LOG) -> None:
    """Apply :class:`Prepare` to a bootstrapped tree (never follows links out of it)."""
    root = root.resolve()
    for rel in plan.truncate:
        path = _inside(root, rel)
        if path.is_symlink():
            path.unlink()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
        log.write(f"  emptied /{rel}")
    for rel in plan.remove:
        path = _inside(root, rel)
        if path.is_symlink() or path.is_file():
            path.unlink()
            log.write(f"  removed /{rel}")
    for rel in plan.clear_dirs:
        path = _inside(root, rel)
        if path.is_dir() and not path.is_symlink():
            for child in path.iterdir():
                if child.name == "partial" and child.is_dir():
                    continue
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
            log.write(f"  cleared /{rel}")
    for rel, text in plan.write:
        path = _inside(root, rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        log.write(f"  wrote /{rel}")
    _mask(_inside(root, "etc/systemd/system"), plan.mask_units)
    if plan.mask_units:
        log.write(f"  masked {len(plan.mask_units)} unit(s): {' '.join(plan.mask_units)}")
    _mask(_inside(root, "etc/systemd/system-generators"), plan.mask_generators)
    if plan.mask_generators:
        log.write(f"  masked {len(plan.mask_generators)} generator(s)")


def _mask(directory: Path, names: tuple[str, ...]) -> None:
    """systemd's way to switch a unit or generator off: a link to /dev/null in ``directory``."""
    if names:
        directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        link = directory / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to("/dev/null")


def tree_size(root: Path) -> int:
    """Bytes of regular files below ``root`` (for import progress)."""
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            total += st.st_size
    return total


def tar_stream(root: Path, on_bytes: Callable[[int], None] | None = None) -> Iterator[bytes]:
    """Stream ``root`` as an uncompressed tar (owners, modes, links, devices kept).

    A thread writes the tar into a pipe; this generator yields what comes out, so nothing is
    staged on disk.
    """
    read_fd, write_fd = os.pipe()
    errors: list[BaseException] = []

    def _strip(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        if info.type not in (
            tarfile.REGTYPE,
            tarfile.AREGTYPE,
            tarfile.DIRTYPE,
            tarfile.SYMTYPE,
            tarfile.LNKTYPE,
            tarfile.CHRTYPE,
            tarfile.BLKTYPE,
            tarfile.FIFOTYPE,
        ):
            return None
        return info

    def _writer() -> None:
        try:
            with (
                os.fdopen(write_fd, "wb", buffering=CHUNK) as out,
                tarfile.open(fileobj=out, mode="w|", format=tarfile.GNU_FORMAT) as tar,
            ):
                for entry in sorted(os.listdir(root)):
                    tar.add(str(root / entry), arcname=entry, recursive=True, filter=_strip)
        except BaseException as err:  # noqa: BLE001 - handed to the reader
            errors.append(err)

    thread = threading.Thread(target=_writer, name="tar-stream", daemon=True)
    thread.start()
    sent = 0
    with os.fdopen(read_fd, "rb", buffering=0) as src:
        while True:
            chunk = src.read(CHUNK)
            if not chunk:
                break
            sent += len(chunk)
            if on_bytes is not None:
                on_bytes(sent)
            yield chunk
    thread.join()
    if errors:
        raise OperationFailed(f"could not pack {root}: {errors[0]}") from errors[0]


def _mounts_below(path: Path) -> list[str]:
    prefix = str(path.resolve())
    found = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        fields = line.split()
        if len(fields) > 1:
            point = fields[1].replace("\\040", " ")
            if point == prefix or point.startswith(prefix + "/"):
                found.append(point)
    return found


def remove_tree(path: Path, log: OpLog = NULL_LOG) -> None:
    """Remove a bootstrap work tree. Mounts a killed bootstrap left below it (proc, sys, a
    bound /dev) are unmounted first, deepest first; if any remains, nothing is deleted."""
    if not path.exists():
        return
    from devbox.adapters.host import process

    for point in sorted(_mounts_below(path), key=len, reverse=True):
        process.run(["umount", "--lazy", point], log=log, check=False, timeout=60)
    left = _mounts_below(path)
    if left:
        raise OperationFailed(
            f"not removing {path}: still mounted: {', '.join(left)}",
            hint="umount them (umount -R) and retry",
        )
    shutil.rmtree(path)
