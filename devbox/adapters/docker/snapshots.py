"""Snapshot images through the docker SDK: pause/commit a container, add a derived layer.

``docker commit`` keeps only the container's writable layer on top of its image, so a snapshot
of a dev container costs what SRC changed, not a copy of the image.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager

from devbox.adapters.docker.engine import build_stream, client, image_attrs, remove_image, translate
from devbox.adapters.docker.engine import list_images_labelled as images_labelled
from devbox.errors import OperationFailed


@contextmanager
def paused(name: str, running: bool) -> Iterator[None]:
    """Freeze ``name`` (cgroup freezer) for the duration of the block when it is running."""
    if not running:
        yield
        return
    with translate(f"pause container {name}"):
        client().api.pause(name)
    try:
        yield
    finally:
        with translate(f"unpause container {name}"):
            client().api.unpause(name)


def unpause(name: str) -> None:
    with translate(f"unpause container {name}"):
        client().api.unpause(name)


def commit(name: str, repository: str, tag: str, labels: dict[str, str]) -> str:
    """Commit ``name``'s root filesystem (without pausing it again) as ``repository:tag``."""
    changes = [f"LABEL {key}={_quote(value)}" for key, value in sorted(labels.items())]
    with translate(f"commit container {name}"):
        result = client().api.commit(
            name, repository=repository, tag=tag, pause=False, changes=changes
        )
    image_id = str(result.get("Id", "")) if isinstance(result, dict) else ""
    if not image_id:
        raise OperationFailed(f"commit of {name}: the engine returned no image id")
    return image_id


def _quote(value: str) -> str:
    import json

    return json.dumps(value)


def build_derived(
    dockerfile: str, files: dict[str, bytes], tag: str, labels: dict[str, str]
) -> str:
    """Build a small image from ``dockerfile`` with ``files`` as its build context."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for arcname, data in {"Dockerfile": dockerfile.encode(), **files}.items():
            info = tarfile.TarInfo(arcname)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    # no network: the sysprep layer needs none, and it must not depend on docker0
    return build_stream(buf, tag, lambda _event: None, labels=labels, network_mode="none")


def image_id(ref: str) -> str | None:
    attrs = image_attrs(ref)
    return str(attrs["Id"]) if attrs else None


def containers_using(label: str) -> list[str]:
    """Names of containers (any state) carrying ``label`` (``key=value``)."""
    with translate("list containers"):
        found = client().api.containers(all=True, filters={"label": label})
    return [str(c["Names"][0]).lstrip("/") for c in found if c.get("Names")]


__all__ = [
    "build_derived",
    "commit",
    "containers_using",
    "image_id",
    "images_labelled",
    "paused",
    "remove_image",
    "unpause",
]
