"""Host-side layout under ``<root>`` (default ``/opt/containers``): the only place a host path
of devbox's is named.

Per-container state lives in its own subtree, ``<root>/containers/<name>/`` (``opt/``,
``state.json``, clone and checkout records), so a container name can never alias one of
devbox's own folders (``logs``, ``ssh``, ``pki``, ...). :data:`RESERVED` lists those folders;
:mod:`devbox.state.migrate` moves per-container dirs of older roots (``<root>/<name>/``) into the
subtree and sets the folders' modes (:data:`PRIVATE`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# every name devbox itself uses directly under <root> (and "locks", under run/)
RESERVED = frozenset(
    {
        "containers",
        "logs",
        "lab",
        "lab-hosts",
        "leases",
        "run",
        "locks",
        "pki",
        "ssh",
        "snapshots",
        "registry",
        "home",
        "images",
        "tmp",
    }
)
# folders of <root> other host users must not traverse (created/fixed 0700 by migrate.ensure)
PRIVATE = ("containers", "ssh", "pki", "leases", "lab", "run", "logs", "snapshots")


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def container_log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    @property
    def host_log(self) -> Path:
        return self.logs / "devbox.log"

    @property
    def audit_log(self) -> Path:
        """One JSON line per request to the service that changed something."""
        return self.logs / "audit.log"

    @property
    def service_socket(self) -> Path:
        """The API socket of a non-default root's service (the default root's is
        /run/devbox/devbox.sock; the ``service.socket`` setting names another)."""
        return self.root / "run" / "devbox.sock"

    @property
    def containers(self) -> Path:
        return self.root / "containers"

    def container_dir(self, name: str) -> Path:
        return self.containers / name

    def opt_dir(self, name: str) -> Path:
        return self.container_dir(name) / "opt"

    def state_file(self, name: str) -> Path:
        return self.container_dir(name) / "state.json"

    def legacy_container_dir(self, name: str) -> Path:
        """Where a root made before the ``containers/`` subtree kept ``name`` (see
        :mod:`devbox.state.migrate`); never for a :data:`RESERVED` name."""
        assert name not in RESERVED, name
        return self.root / name

    @property
    def lab(self) -> Path:
        return self.root / "lab"

    @property
    def lab_hosts(self) -> Path:
        """The simulated hosts of ``lab up --hosts N``: one folder each (0700)."""
        return self.root / "lab-hosts"

    @property
    def leases(self) -> Path:
        return self.root / "leases"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def locks(self) -> Path:
        return self.root / "run" / "locks"

    @property
    def moves(self) -> Path:
        """Spooled exports and imports of ``move`` (:mod:`devbox.state.move_spool`)."""
        return self.root / "run" / "moves"

    @property
    def paused(self) -> Path:
        """Markers of the containers a clone holds paused (:mod:`devbox.services.pause_guard`)."""
        return self.root / "run" / "paused"

    def paused_marker(self, name: str) -> Path:
        from urllib.parse import quote

        return self.paused / f"{quote(name, safe='')}.json"

    @property
    def idle_state(self) -> Path:
        """The idle-stop bookkeeping of the service (:mod:`devbox.state.idle_records`)."""
        return self.root / "run" / "idle.json"

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def ssh(self) -> Path:
        return self.root / "ssh"

    @property
    def snapshots(self) -> Path:
        return self.root / "snapshots"

    @property
    def registry(self) -> Path:
        return self.root / "registry"

    def private_dirs(self) -> list[Path]:
        return [self.root / folder for folder in PRIVATE]
