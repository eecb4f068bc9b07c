"""``devbox dockeruser move NAME --to HOST``, planned (pure): the order of the stages, what
each failure rolls back, and the labels the container gets at its destination.

The client drives it (it is the one with a connection to both services): the destination
first reserves the name (its service answers, the name is free there), the source service
exports (stops the container, commits it, packs its /opt), the two files stream
through the client into the destination's spool, the destination makes the container from
them (same name, MAC and so the same DHCP client id: the same address) and waits for its
sshd; only then is it removed at the source. A failure before that point drops what the
destination made and puts the source back as it was (started again if it ran).
"""

from __future__ import annotations

from dataclasses import dataclass

from devbox.errors import UserError
from devbox.model import labels

RESERVE = "reserve the name at the destination"
EXPORT = "export at the source"
SEND_IMAGE = "send the image"
SEND_OPT = "send /opt"
IMPORT = "make it at the destination"
REMOVE = "remove at the source"
STAGES = (RESERVE, EXPORT, SEND_IMAGE, SEND_OPT, IMPORT, REMOVE)

DROP_IMPORT = "drop the destination's import"
RESTORE_SOURCE = "put the source back (start it again if it ran)"

# what the destination takes from the source's labels (the rest is its own, or the caller's)
CARRIED = (
    labels.ROLE,
    labels.KIND,
    labels.BRANCH,
    labels.IMAGE,
    labels.OS,
    labels.USER,
    labels.CREATED_BY,
    labels.DEVBOX_VERSION,
    labels.REVISION,
    labels.PRODUCT,
    labels.RELEASE,
    labels.PATCHES,
    labels.TEST_RUN,
    labels.LIMIT_MEMORY,
    labels.LIMIT_CPUS,
    labels.LIMIT_PIDS,
    labels.KEEP_RUNNING,
    labels.NET,
    labels.NET_VLAN,
    labels.NET_IFNAME,
    labels.NET_MTU,
)


@dataclass(frozen=True)
class Rollback:
    """What to do after ``stage`` failed: ``actions`` in order; ``source_kept``: the
    container still is (or is put back) at the source."""

    stage: str
    actions: tuple[str, ...]
    source_kept: bool
    warning: str = ""


def check_hosts(source: str, destination: str) -> None:
    """A move goes to another host (``local`` is this machine)."""
    if not destination:
        raise UserError("move needs a destination", hint="--to HOST (devbox common hosts list)")
    if source == destination:
        raise UserError(
            f"the container is on {source} already",
            hint="name another host: --to HOST (devbox common hosts list, or 'local')",
        )


def rollback_for(stage: str) -> Rollback:
    """What a failure at ``stage`` undoes. The export and import jobs undo their own steps;
    this is what is left to the client between them."""
    if stage not in STAGES:
        raise ValueError(stage)
    if stage == RESERVE:  # nothing made anywhere: the destination is checked first
        return Rollback(stage, (), True)
    if stage == EXPORT:  # the export job put the source back itself
        return Rollback(stage, (DROP_IMPORT,), True)
    if stage in (SEND_IMAGE, SEND_OPT, IMPORT):  # the import job undid its own steps
        return Rollback(stage, (DROP_IMPORT, RESTORE_SOURCE), True)
    # REMOVE: the destination's copy is up and answers; the source is stopped, its
    # container and /opt still there -- nothing is deleted twice, the person decides
    return Rollback(
        stage,
        (),
        False,
        warning="the container runs at the destination; the stopped original is still at "
        "the source",
    )


def destination_labels(
    source: dict[str, str],
    *,
    root: str,
    opt_dir: str,
    mac: str,
    parent: str,
    owner: dict[str, str],
    image_labels: dict[str, str] | None = None,
) -> dict[str, str]:
    """The labels of the moved container: :data:`CARRIED` from the source (a clone stops
    being one: its snapshot stays behind), this root, this /opt, its MAC, this host's
    parent, the caller's owner labels; every other devbox label of the image (a commit
    copies the source's) blanked, so none of the source's roots or owners leaks in."""
    out = {key: source[key] for key in CARRIED if source.get(key)}
    out[labels.ROLE] = "dockeruser"
    out[labels.ROOT] = root
    out[labels.OPT_DIR] = opt_dir
    out[labels.NET_MAC] = mac
    out[labels.NET] = "dhcp"  # the move attaches with DHCP (same client id: same address)
    if parent:
        out[labels.NET_PARENT] = parent
    out.update(owner)
    for key in image_labels or {}:
        if key.startswith(labels.PREFIX) and key not in out:
            out[key] = ""
    return out


def same_opt(exported: dict[str, int], imported: dict[str, int]) -> bool:
    """Whether the destination extracted what the source packed (members and file bytes)."""
    return exported.get("entries") == imported.get("entries") and exported.get(
        "bytes"
    ) == imported.get("bytes")
