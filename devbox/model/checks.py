"""Checks: one finding of devbox doctor (or of a service's own check)."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    needed: bool = True

    def to_dict(self) -> dict[str, object]:
        return asdict(self)
