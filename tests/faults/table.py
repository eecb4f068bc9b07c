"""The fault suite's result table: one row per case (runs, converged, leaks by kind, /opt
files lost), filled by the tests and printed at the end of the session."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tests.faults.leaks import KINDS, Report


@dataclass
class Row:
    case: str
    runs: int = 0
    converged: int = 0
    leaks: dict[str, int] = field(default_factory=lambda: {k: 0 for k in KINDS})
    lost: int = 0
    notes: list[str] = field(default_factory=list)


ROWS: dict[str, Row] = {}


def record(case: str, converged: bool, report: Report | None = None, note: str = "") -> None:
    row = ROWS.setdefault(case, Row(case))
    row.runs += 1
    row.converged += int(converged)
    if report is not None:
        for kind, items in report.leaks.items():
            row.leaks[kind] = row.leaks.get(kind, 0) + len(items)
        row.lost += len(report.lost)
    if note:
        row.notes.append(note)


def render() -> str:
    kinds = [k for k in KINDS]
    head = ["case", "runs", "converged", *kinds, "opt lost"]
    rows = [
        [
            r.case,
            str(r.runs),
            str(r.converged),
            *[str(r.leaks.get(k, 0)) for k in kinds],
            str(r.lost),
        ]
        for r in ROWS.values()
    ]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
    lines = [
        "fault suite (issue 12): leaked objects by kind",
        "  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)),
    ]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    for r in ROWS.values():
        for note in r.notes[:5]:
            lines.append(f"  {r.case}: {note}")
    return "\n".join(lines)


def dump(path: Path) -> None:
    path.write_text(json.dumps([asdict(r) for r in ROWS.values()], indent=1))
