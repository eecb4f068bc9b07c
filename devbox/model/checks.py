"""Checks: one finding of devbox doctor (or of a service's own check)."""

from __future__ import annotations

from dataclasses import dataclass

from devbox.model.record import Record


@dataclass(frozen=True)
class Check(Record):
    name: str
    ok: bool
    detail: str
    fix: str = ""
    needed: bool = True
