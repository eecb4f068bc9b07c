"""Container operations through the docker SDK: create, start, stop, remove, exec, files.

Thin and typed; errors are translated by :func:`devbox.adapters.docker.engine.translate`.
"""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from devbox.adapters.docker.engine import client, container_attrs, translate
from devbox.errors import OperationFailed
from devbox.waits import poll


@dataclass(frozen=True)
class ContainerState:
    name: str
    id: str
    status: str  # created, running, exited, ...
    running: bool
    pid: int
    labels: dict[str, str]
    image: str
    created: str
    started_at: str
    finished_at: str
    hostname: str = ""
    restarting: bool = False
    binds: tuple[str, ...] = ()  # HostConfig.Binds: "src:dst[:mode]"


def state_of(attrs: dict[str, Any]) -> ContainerState:
    """A container's state from ``docker inspect`` attributes."""
    st = attrs.get("State") or {}
    cfg = attrs.get("Config") or {}
    pid = int(st.get("Pid") or 0)
    return ContainerState(
        name=str(attrs.get("Name", "")).lstrip("/"),
        id=str(attrs.get("Id", "")),
        status=st.get("Status", "unknown"),
        running=bool(st.get("Running")) and pid > 0,
        pid=pid,
        labels=dict(cfg.get("Labels") or {}),
        image=cfg.get("Image", ""),
        created=attrs.get("Created", ""),
        started_at=st.get("StartedAt", ""),
        finished_at=st.get("FinishedAt", ""),
        hostname=str(cfg.get("Hostname") or ""),
        restarting=bool(st.get("Restarting")),
        binds=tuple((attrs.get("HostConfig") or {}).get("Binds") or ()),
    )


def inspect(name: str) -> ContainerState | None:
    """The state of the container named ``name`` (or with exactly that full ID), or None.
    The engine also resolves an ID *prefix*: a name made of hex digits would then find
    another container (someone else's, whose ID happens to start so), so a match that is
    neither the name nor the whole ID counts as none."""
    attrs = container_attrs(name)
    if attrs is None:
        return None
    st = state_of(attrs)
    return st if name in (st.name, st.id) else None


def list_labeled(label: str, all_states: bool = True) -> list[ContainerState]:
    """Every container carrying ``label`` (``key`` or ``key=value``), one API call for the list
    plus one inspect per match."""
    import docker

    with translate("list containers"):
        summaries = client().api.containers(all=all_states, filters={"label": label})
        out = []
        for summary in summaries:
            try:
                out.append(state_of(client().api.inspect_container(summary["Id"])))
            except docker.errors.NotFound:  # removed between list and inspect; any other
                continue  # error raises: a partial list must not read as the whole
    return out


@dataclass(frozen=True)
class ContainerSummary:
    """What the engine's container list says of one container, without an inspect."""

    name: str
    id: str
    status: str  # created, running, exited, paused, ...
    labels: dict[str, str]
    image: str
    created: str  # ISO 8601, UTC, to the second: "2026-01-31T12:00:00Z"


def summary_of(entry: dict[str, Any]) -> ContainerSummary:
    """A container from one entry of the engine's container list (``GET /containers/json``)."""
    from datetime import UTC, datetime

    created = datetime.fromtimestamp(int(entry.get("Created") or 0), tz=UTC)
    return ContainerSummary(
        name=str((entry.get("Names") or [""])[0]).lstrip("/"),
        id=str(entry.get("Id", "")),
        status=str(entry.get("State") or "unknown"),
        labels=dict(entry.get("Labels") or {}),
        image=str(entry.get("Image") or ""),
        created=created.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )


def list_summaries(label: str, all_states: bool = True) -> list[ContainerSummary]:
    """Every container carrying ``label``: one API call, no inspect (for listings; what needs
    a PID, binds or start times inspects the container with :func:`inspect`)."""
    with translate("list containers"):
        entries = client().api.containers(all=all_states, filters={"label": label})
    return [summary_of(entry) for entry in entries]


def create(kwargs: dict[str, Any]) -> str:
    """Create (not start) a container from docker SDK ``containers.create`` kwargs."""
    image = kwargs.pop("image")
    with translate(f"create container {kwargs.get('name')}"):
        ctr = client().containers.create(image, **kwargs)
    return str(ctr.id)


def start(name: str) -> None:
    with translate(f"start container {name}"):
        client().api.start(name)


def stop(name: str, timeout: int = 20) -> None:
    with translate(f"stop container {name}"):
        client().api.stop(name, timeout=timeout)


def remove(name: str) -> bool:
    """Force-remove a container (and its anonymous volumes). False when it did not exist."""
    import docker

    from devbox.adapters.host import cgroupfs

    with translate(f"remove container {name}"):
        try:
            client().api.remove_container(name, force=True, v=True)
        except docker.errors.NotFound:
            cgroupfs.remove_container_cgroups(name)  # a remove killed before it got there
            return False
    # removal is asynchronous in places: wait (bounded) until the name is free
    poll(lambda: inspect(name) is None, 5.0, 0.05)
    # Docker removes only the container's own leaf cgroups: drop devbox/<name> too
    cgroupfs.remove_container_cgroups(name)
    return True


def exec_run(
    name: str,
    argv: list[str],
    user: str = "root",
    on_output: Callable[[bytes], None] | None = None,
    environment: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    """Run ``argv`` in the container through the Docker API; return (exit code, output)."""
    with translate(f"exec in container {name}"):
        api = client().api
        exec_id = api.exec_create(
            name, argv, user=user, environment=environment, stdout=True, stderr=True
        )["Id"]
        chunks: list[bytes] = []
        for chunk in api.exec_start(exec_id, stream=True):
            chunks.append(chunk)
            if on_output is not None:
                on_output(chunk)
        code = api.exec_inspect(exec_id).get("ExitCode")
    return int(code if code is not None else -1), b"".join(chunks)


def put_files(
    name: str,
    files: dict[str, tuple[bytes, int, int, int]],
    dirs: dict[str, tuple[int, int, int]] | None = None,
) -> None:
    """Write files into the container: ``{abs path: (data, mode, uid, gid)}``, after creating
    ``dirs`` (``{abs path: (mode, uid, gid)}``), in one archive upload."""
    buf = io.BytesIO()
    now = int(time.time())
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path, (mode, uid, gid) in (dirs or {}).items():
            info = tarfile.TarInfo(str(PurePosixPath(path)).lstrip("/"))
            info.type = tarfile.DIRTYPE
            info.mode, info.uid, info.gid, info.mtime = mode, uid, gid, now
            tar.addfile(info)
        for path, (data, mode, uid, gid) in files.items():
            info = tarfile.TarInfo(str(PurePosixPath(path)).lstrip("/"))
            info.size, info.mode, info.uid, info.gid, info.mtime = len(data), mode, uid, gid, now
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    with translate(f"copy files into {name}"):
        if not client().api.put_archive(name, "/", buf.getvalue()):
            raise OperationFailed(f"copy files into {name}: the engine refused the archive")


def seed_files(
    name: str,
    files: dict[str, tuple[bytes, int, int, int]],
    remove: list[str] | None = None,
    dirs: dict[str, tuple[int, int, int]] | None = None,
) -> str:
    """Before a container's first start: make ``dirs`` (``{abs path: (mode, uid, gid)}``),
    write ``files`` (``{abs path: (data, mode, uid, gid)}``) and delete ``remove`` (paths its
    image has). Returns how: ``"layer"`` (written
    straight into its not yet mounted overlay2 layer, see :mod:`devbox.adapters.docker.layers`) or
    ``"archive"`` (an archive upload through the API; cannot delete, so ``remove`` must then be
    empty)."""
    from devbox.adapters.docker import layers
    from devbox.adapters.docker.engine import container_attrs

    attrs = container_attrs(name)
    if attrs is None:
        raise OperationFailed(f"copy files into {name}: no such container")
    layer = layers.unmounted_container_layer(attrs)
    if layer is not None and layers.edit(layer, files, remove or [], dirs):
        return "layer"
    if remove:
        raise OperationFailed(
            f"cannot remove files from {name} before its first start: its "
            "storage is not an unmounted overlay2 layer"
        )
    put_files(name, files, dirs)
    return "archive"


def read_file(name: str, path: str, limit: int = 1 << 20) -> bytes | None:
    """A file's bytes from the container, or None when it does not exist."""
    import docker

    with translate(f"read {path} from {name}"):
        try:
            stream, _stat = client().api.get_archive(name, path)
        except docker.errors.NotFound:
            return None
        data = b"".join(stream)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        member = tar.next()
        if member is None or not member.isfile() or member.size > limit:
            return None
        fh = tar.extractfile(member)
        return fh.read() if fh else None
