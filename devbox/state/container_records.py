"""A dev container's own record (state.json) and the per-user files devbox keeps for it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from devbox import jsonfile
from devbox.config import Config
from devbox.paths import Layout

if TYPE_CHECKING:
    pass


DEV_USER = "dev"


HOST_KEY = "/etc/ssh/ssh_host_ed25519_key"


HOST_KEY_FILES = (
    "/etc/ssh/ssh_host_ed25519_key.pub",
    "/etc/ssh/ssh_host_ecdsa_key.pub",
    "/etc/ssh/ssh_host_rsa_key.pub",
)


def _state_path(layout: Layout, name: str) -> Path:
    return layout.state_file(name)


def read_state(layout: Layout, name: str) -> dict[str, Any]:
    """devbox's own record of ``name`` (``<root>/containers/<name>/state.json``; for a
    container made before that subtree, its legacy dir: :mod:`devbox.state.migrate`)."""
    from devbox.state import migrate

    path = _state_path(layout, name)
    if not path.exists() and migrate.has_legacy(layout, name):
        path = layout.legacy_container_dir(name) / "state.json"
    # none yet: {}; truncated or corrupt: CorruptRecord naming the file (devbox.jsonfile)
    return jsonfile.read_json(path, missing={})


def write_state(layout: Layout, name: str, **values: Any) -> None:
    """Merge ``values`` into the record, under its writer lock, saved atomically."""
    path = _state_path(layout, name)
    layout.containers.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.parent.mkdir(exist_ok=True)

    def merge(current: dict[str, Any]) -> dict[str, Any]:
        return {**(current or read_state(layout, name)), **values}

    jsonfile.update_json(path, merge)


def clear_state(layout: Layout, name: str) -> None:
    path = _state_path(layout, name)
    with jsonfile.locked(path):  # not under a writer's feet
        path.unlink(missing_ok=True)


def devbox_key(layout: Layout) -> Path:
    return layout.ssh / "id_ed25519"


def known_hosts(layout: Layout) -> Path:
    return layout.ssh / "known_hosts"


def home_dir(cfg: Config) -> Path:
    """The caller's HOME (from the config's environment), where the SSH config entry goes."""
    return Path(cfg.environ.get("HOME") or Path.home())
