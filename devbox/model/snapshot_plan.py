"""Snapshots of one dev container (``devbox dockeruser snapshot``): pure planning.

A snapshot is a pair: an image committed from the container (its root filesystem, its own
writable layer on top of its image) and a copy of its ``/opt`` (a reflink copy where the
filesystem shares blocks). Both are named here: the image ``devbox-snapshot/<name>:<tag>``,
the copy ``<record dir>/snapshots/<tag>/opt`` with its record ``snapshot.json`` beside it.
A restored container runs from the extra tag :data:`RUNNING_TAG` of the image it came from,
so removing the snapshot it came from only untags it.

Not the clone's snapshots (``devbox.role=snapshot``, ``<root>/snapshots/``, collected when no
clone uses them): these carry ``devbox.role=container-snapshot`` and live in the container's
own folder, so a purge of the container removes them and nothing else does.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from devbox.errors import UserError
from devbox.model import labels

ROLE = "container-snapshot"  # devbox.role of a snapshot image
OF = "devbox.snapshot-of"  # the container a snapshot image was taken of
TAG = "devbox.snapshot-tag"
REPOSITORY = "devbox-snapshot"
RUNNING_TAG = "_running"  # never a user's tag: those start with a letter or digit
DIR = "snapshots"  # under the container's record dir
RECORD = "snapshot.json"
BEFORE_RESTORE = "before-restore-"  # the state a restore replaced, kept as a snapshot
MAX_TAG = 64
_TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
TAG_HINT = "a tag is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"


def validate_tag(tag: str) -> str:
    """``tag`` if it is one (also a folder name and a docker tag), else UserError."""
    if not isinstance(tag, str) or not tag:
        raise UserError("snapshot tag is empty", hint=TAG_HINT)
    if len(tag) > MAX_TAG:
        raise UserError(f"snapshot tag '{tag[:20]}...' is too long (max {MAX_TAG})", hint=TAG_HINT)
    if not _TAG.fullmatch(tag):
        raise UserError(f"invalid snapshot tag {tag!r}", hint=TAG_HINT)
    return tag


def default_tag(now: float) -> str:
    """A tag for a snapshot taken at ``now`` (seconds since the epoch): ``20261201-181500``,
    in local time."""
    return time.strftime("%Y%m%d-%H%M%S", time.localtime(now))


def before_restore_tag(now: float) -> str:
    return BEFORE_RESTORE + default_tag(now)


def image_repository(name: str) -> str:
    return f"{REPOSITORY}/{name}"


def image_ref(name: str, tag: str) -> str:
    return f"{image_repository(name)}:{tag}"


def running_ref(name: str) -> str:
    return image_ref(name, RUNNING_TAG)


def aside_name(name: str, now: float) -> str:
    """The name the container carries while a restore has it set aside (a docker name, never
    a devbox one: it has a '.')."""
    return f"{name}.restore-{int(now)}"


def image_labels(
    name: str, tag: str, root: str, container_labels: Mapping[str, str]
) -> dict[str, str]:
    """The labels a snapshot image gets over those it inherits from the container (which
    has its image's: ``list-images`` then shows it as a snapshot, not as a built image)."""
    from devbox.model.bootstrap_plan import LABEL_PREFIX

    out = {labels.ROLE: ROLE, OF: name, TAG: tag, labels.ROOT: root}
    out[f"{LABEL_PREFIX}kind"] = ROLE
    test_run = container_labels.get(labels.TEST_RUN)
    if test_run:
        out[labels.TEST_RUN] = test_run
    return out


def image_filters(name: str, root: str) -> tuple[str, ...]:
    """The label filters that find ``name``'s snapshot images of devbox root ``root``."""
    return (f"{labels.ROLE}={ROLE}", f"{OF}={name}", f"{labels.ROOT}={root}")


def owner_mismatch(record: Mapping[str, Any], owner_uid: int) -> bool:
    """Whether a snapshot was taken of a container of another owner (a container removed
    without --purge and made again by someone else under the same name)."""
    try:
        return int(record.get("owner_uid", -1)) != owner_uid
    except (TypeError, ValueError):
        return True


@dataclass(frozen=True)
class SnapshotRow:
    """One line of ``devbox dockeruser snapshots NAME``."""

    tag: str
    created: float  # seconds since the epoch
    opt_bytes: int | None  # on disk under the /opt copy (reflinked blocks counted too)
    image_id: str | None  # None: the image is gone
    method: str  # how /opt was copied: reflink or copy (or "moved": a before-restore)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tag": self.tag,
            "created": self.created,
            "created_at": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.created)),
            "opt_bytes": self.opt_bytes,
            "image_id": self.image_id,
            "method": self.method,
        }


COLUMNS = ["TAG", "CREATED", "/OPT", "IMAGE", "HOW"]


def rows(
    records: Mapping[str, Mapping[str, Any]],
    image_ids: Mapping[str, str],
    sizes: Mapping[str, int | None],
) -> list[SnapshotRow]:
    """The listing, oldest first: every tag with a record or an image (a half-made one
    shows with what it has)."""
    out = []
    for tag in set(records) | set(image_ids):
        rec = records.get(tag, {})
        try:
            created = float(rec.get("created", 0.0))
        except (TypeError, ValueError):
            created = 0.0
        out.append(
            SnapshotRow(
                tag=tag,
                created=created,
                opt_bytes=sizes.get(tag),
                image_id=image_ids.get(tag),
                method=str(rec.get("method", "?")),
            )
        )
    return sorted(out, key=lambda r: (r.created, r.tag))


def cells(row: Mapping[str, Any]) -> list[str]:
    from devbox.model.units import human_bytes

    size = row.get("opt_bytes")
    image = str(row.get("image_id") or "(missing)")
    return [
        str(row["tag"]),
        str(row.get("created_at", "")),
        human_bytes(None if size is None else int(size)),
        image.removeprefix("sha256:")[:12],
        str(row.get("method", "")),
    ]
