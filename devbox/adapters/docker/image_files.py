"""An image as a ``docker save`` file and back (``move``), through the docker SDK.

A file to load comes from a client (the mover's), so before the engine sees it its
``manifest.json`` (and an OCI ``index.json``, and the legacy ``repositories``) must name
exactly the one tag expected: a tar that would tag ``devbox-dev:latest`` or any other image
of the host's is refused, never loaded.
"""

from __future__ import annotations

import json
import posixpath
import tarfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from devbox.adapters.docker.engine import client, translate
from devbox.errors import OperationFailed

Progress = Callable[[int, int | None], None]
CHUNK = 1 << 20
INDEX_MAX = 1 << 20  # bytes: the largest manifest.json / index.json / repositories read


def save(ref: str, path: Path, progress: Progress | None = None, have: Sequence[str] = ()) -> int:
    """``docker save ref`` into ``path`` (a new file); returns its size in bytes. ``have``:
    the layer diff ids (in order, from the bottom) the loading engine holds already, whose
    ``layer.tar`` files are left out (``docker load`` reads a layer's file only when it has
    no layer of that chain)."""
    full = path.with_name(path.name + ".full") if have else path
    done = 0
    with translate(f"save image {ref}"), full.open("xb") as out:
        for chunk in client().api.get_image(ref, chunk_size=CHUNK):
            out.write(chunk)
            done += len(chunk)
            if progress is not None:
                progress(done, None)
    if not have:
        return done
    try:
        _without_layers(full, path, list(have))
    finally:
        full.unlink(missing_ok=True)
    return path.stat().st_size


def _without_layers(full: Path, out: Path, have: list[str]) -> None:
    """Copy the saved ``full`` to ``out`` without the layer files of the chain ``have``."""
    try:
        with tarfile.open(full, mode="r:") as tar:
            manifest = _small_json(tar, "manifest.json")
            if not isinstance(manifest, list) or len(manifest) != 1:
                raise OperationFailed(f"{full}: not one image in its manifest.json")
            config = _small_json(tar, str(manifest[0]["Config"]))
            diff_ids = list(config["rootfs"]["diff_ids"])
            layers = [str(name) for name in manifest[0]["Layers"]]
            skip = {
                layers[i]
                for i in range(min(len(layers), len(diff_ids)))
                if diff_ids[: i + 1] == have[: i + 1]
            }
            members = tar.getmembers()
            for member in members:  # a kept layer linked to a left-out file keeps that file
                if member.issym() and member.name in layers and member.name not in skip:
                    target = posixpath.normpath(
                        posixpath.join(posixpath.dirname(member.name), member.linkname)
                    )
                    skip.discard(target)
            with tarfile.open(out, mode="x:") as new:
                for member in members:
                    if member.name in skip:
                        continue
                    new.addfile(member, tar.extractfile(member) if member.isreg() else None)
    except (tarfile.TarError, KeyError, TypeError, ValueError) as err:
        raise OperationFailed(f"cannot leave the shared layers out of {full}: {err}") from err


def _small_json(tar: tarfile.TarFile, name: str) -> Any:
    member = tar.getmember(name)
    if not member.isreg() or member.size > INDEX_MAX:
        raise OperationFailed(f"{name} in the saved image is not a small file")
    data = tar.extractfile(member)
    return json.loads(data.read() if data is not None else b"null")


def tags_in(path: Path) -> set[str]:
    """Every image name the saved file at ``path`` would tag when loaded."""
    names: set[str] = set()
    try:
        with tarfile.open(path, mode="r:") as tar:
            for member in tar:
                if member.name not in ("manifest.json", "index.json", "repositories"):
                    continue
                if not member.isreg() or member.size > INDEX_MAX:
                    raise OperationFailed(f"image file {path}: {member.name} is not a small file")
                data = tar.extractfile(member)
                doc = json.loads(data.read() if data is not None else b"null")
                names |= _names(member.name, doc)
    except (tarfile.TarError, OSError, ValueError) as err:
        raise OperationFailed(f"image file {path} is not a docker save archive: {err}") from err
    return names


def _names(kind: str, doc: object) -> set[str]:
    out: set[str] = set()
    if kind == "manifest.json" and isinstance(doc, list):
        for entry in doc:
            tags = entry.get("RepoTags") if isinstance(entry, dict) else None
            out |= {str(t) for t in tags or []}
    elif kind == "index.json" and isinstance(doc, dict):
        for entry in doc.get("manifests") or []:
            notes = entry.get("annotations") if isinstance(entry, dict) else None
            for key in ("io.containerd.image.name", "org.opencontainers.image.ref.name"):
                if isinstance(notes, dict) and notes.get(key):
                    out.add(str(notes[key]))
    elif kind == "repositories" and isinstance(doc, dict):
        for repo, tags in doc.items():
            out |= {f"{repo}:{tag}" for tag in (tags or {})}
    else:
        out.add(f"<unreadable {kind}>")
    return out


def load(path: Path, expected: str) -> None:
    """Load the saved file at ``path`` when it tags ``expected`` and nothing else."""
    found = tags_in(path)
    plain = {name.removeprefix("docker.io/").removeprefix("library/") for name in found}
    # an OCI index names a reference by its tag alone (org.opencontainers.image.ref.name)
    if expected not in plain or not plain <= {expected, expected.rsplit(":", 1)[-1]}:
        raise OperationFailed(
            f"image file {path} would tag {sorted(found)}, not only {expected}: not loading it"
        )
    with translate(f"load image {expected}"), path.open("rb") as data:
        for _ in client().api.load_image(data):
            pass
