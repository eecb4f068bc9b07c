"""Clone and snapshot records under <root>/containers: which clone came from which snapshot."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devbox import jsonfile
from devbox.adapters.docker import containers as dc
from devbox.adapters.host import mounts
from devbox.model import labels
from devbox.model.naming import validate_name
from devbox.paths import Layout

CLONE_FILE = "clone.json"


SNAPSHOT_FILE = "snapshot.json"


FILES_LOCK = threading.Lock()  # known_hosts and ~/.ssh/config.d/devbox are shared files


@dataclass(frozen=True)
class ClonePaths:
    layout: Layout
    name: str
    snapshot: str

    @property
    def dir(self) -> Path:
        return self.layout.container_dir(self.name)

    @property
    def record(self) -> Path:
        return self.dir / CLONE_FILE

    def overlay(self) -> mounts.OverlaySpec:
        return mounts.OverlaySpec(
            lower=snapshot_opt(self.layout, self.snapshot),
            upper=self.dir / "opt-upper",
            work=self.dir / "opt-work",
            merged=self.layout.opt_dir(self.name),
        )


def snapshot_dir(layout: Layout, snap_id: str) -> Path:
    return layout.snapshots / snap_id


def snapshot_opt(layout: Layout, snap_id: str) -> Path:
    return snapshot_dir(layout, snap_id) / "opt"


def read_record(path: Path) -> dict[str, Any]:
    """A clone or snapshot record; {} if there is none. A corrupt one raises CorruptRecord
    (never a silent {}: gc_snapshots would take a snapshot still in use for unused)."""
    return jsonfile.read_json(path, missing={})


def write_record(path: Path, data: dict[str, Any]) -> None:
    jsonfile.write_json(path, data)  # atomic and durable: devbox.jsonfile


def clone_records(layout: Layout, legacy: bool = False) -> dict[str, dict[str, Any]]:
    """``{clone name: its clone.json}`` for every clone directory under ``<root>/containers``
    (with ``legacy``, also those a root made before that subtree still holds for clones that
    exist: :mod:`devbox.state.migrate`; their overlays are not remounted here)."""
    from devbox.state import migrate

    out: dict[str, dict[str, Any]] = {}
    found = list(layout.containers.glob(f"*/{CLONE_FILE}")) if layout.containers.is_dir() else []
    if legacy:
        found += [layout.legacy_container_dir(n) / CLONE_FILE for n in migrate.legacy_names(layout)]
    for record in found:
        data = read_record(record)
        if data.get("snapshot"):
            out.setdefault(record.parent.name, data)
    return out


def clones_of(source: str) -> list[str]:
    validate_name(source, "source container name")
    return sorted(
        st.name
        for st in dc.list_labeled(f"{labels.CLONE_OF}={source}")
        if st.labels.get(labels.KIND) == "clone"
    )


def snapshot_ids(layout: Layout) -> list[str]:
    if not layout.snapshots.is_dir():
        return []
    return [p.name for p in layout.snapshots.iterdir() if p.is_dir()]
