"""Host-side layout under ``<root>`` (default ``/opt/containers``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


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

    def container_dir(self, name: str) -> Path:
        return self.root / name

    def opt_dir(self, name: str) -> Path:
        return self.root / name / "opt"

    @property
    def lab(self) -> Path:
        return self.root / "lab"

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
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def ssh(self) -> Path:
        return self.root / "ssh"

    @property
    def snapshots(self) -> Path:
        return self.root / "snapshots"
