"""A ``docker save`` file from a client is loaded only when it tags the one expected name:
one that would retag a host image (``devbox-dev:latest``) is refused before the engine
sees it."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from devbox.adapters.docker import image_files
from devbox.errors import OperationFailed

EXPECTED = "devbox-move/web1:0123456789abcdef"


def _saved(path: Path, files: dict[str, object]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, doc in files.items():
            data = json.dumps(doc).encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_tags_of_manifest_index_and_repositories(tmp_path: Path) -> None:
    path = _saved(
        tmp_path / "a.tar",
        {
            "manifest.json": [{"RepoTags": [EXPECTED]}],
            "index.json": {
                "manifests": [{"annotations": {"io.containerd.image.name": "docker.io/x:1"}}]
            },
            "repositories": {"y": {"2": "abc"}},
        },
    )
    assert image_files.tags_in(path) == {EXPECTED, "docker.io/x:1", "y:2"}


@pytest.mark.parametrize(
    "files",
    [
        {"manifest.json": [{"RepoTags": [EXPECTED, "devbox-dev:latest"]}]},
        {"manifest.json": [{"RepoTags": ["devbox-dev:latest"]}]},
        {"manifest.json": [{"RepoTags": [EXPECTED]}], "repositories": {"devbox-dev": {"l": "x"}}},
        {"manifest.json": [{"RepoTags": []}]},
        {"manifest.json": {"not": "a list"}},
    ],
)
def test_load_refuses_a_file_that_tags_anything_else(
    tmp_path: Path, files: dict[str, object]
) -> None:
    path = _saved(tmp_path / "bad.tar", files)
    with pytest.raises(OperationFailed, match="not loading it"):
        image_files.load(path, EXPECTED)  # refused before any engine call


def test_a_file_that_is_no_archive_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.tar").write_bytes(b"not a tar at all" * 100)
    with pytest.raises(OperationFailed, match="not a docker save archive"):
        image_files.tags_in(tmp_path / "x.tar")


def _layered(path: Path) -> Path:
    """A saved image of three layers (the third a link to the first's file, as docker save
    writes a layer met twice), diff ids d1 d2 d1."""
    with tarfile.open(path, "w") as tar:
        for name, data in (("l1/layer.tar", b"one"), ("l2/layer.tar", b"two")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("l3/layer.tar")
        link.type, link.linkname = tarfile.SYMTYPE, "../l1/layer.tar"
        tar.addfile(link)
        for name, doc in (
            ("c.json", {"rootfs": {"diff_ids": ["d1", "d2", "d1"]}}),
            ("manifest.json", [{"Config": "c.json", "RepoTags": [EXPECTED],
                                "Layers": ["l1/layer.tar", "l2/layer.tar", "l3/layer.tar"]}]),
        ):  # fmt: skip
            data = json.dumps(doc).encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _names_in(path: Path) -> set[str]:
    with tarfile.open(path) as tar:
        return set(tar.getnames())


def test_layers_the_destination_holds_are_left_out(tmp_path: Path) -> None:
    full = _layered(tmp_path / "full.tar")
    out = tmp_path / "out.tar"
    image_files._without_layers(full, out, ["d1", "d2"])
    # l1 stays: the kept l3 links to it; l2 goes (the chain d1,d2 is there)
    assert _names_in(out) == {"l1/layer.tar", "l3/layer.tar", "c.json", "manifest.json"}
    out.unlink()
    image_files._without_layers(full, out, ["d9"])  # another chain: everything travels
    assert "l2/layer.tar" in _names_in(out) and "l1/layer.tar" in _names_in(out)
    out.unlink()
    image_files._without_layers(full, out, ["d1"])
    assert "l2/layer.tar" in _names_in(out)
