"""Many make/remove and clone/remove cycles leave nothing behind (short, as CI runs it: 50
and 3; long: 50 and 20; bench/faults.py --full: 100 and 20)."""

from __future__ import annotations

import pytest

from tests.faults import table
from tests.faults.conftest import FaultEnv, pick

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.faults]


def test_make_remove_cycles(faults: FaultEnv) -> None:
    case = "make/remove cycles"
    snap = faults.snap()
    n = pick(50, 50, 100)  # the issue: 100 cycles, 50 in CI
    name = faults.name("cy")  # one name, reused: the DHCP server knows it
    bad: list[str] = []
    for i in range(n):
        made = faults.cli(
            "dockeruser", "make-dev-container", name, "--branch", "main", "--no-checkout"
        )
        removed = faults.remove(name)
        report = faults.check(snap, gone={name}, settle=1.0)
        ok = made.returncode == 0 and removed.returncode == 0 and report.clean
        table.record(
            case,
            ok,
            report,
            ""
            if ok
            else f"cycle {i}: make {made.returncode} {made.stderr.strip()[-200:]}; "
            f"remove {removed.returncode}; {report.describe()}",
        )
        if not ok:
            bad.append(f"cycle {i}: {report.describe()} {made.stderr[-300:]}")
    assert not bad, bad[:3]


def test_clone_remove_cycles(faults: FaultEnv) -> None:
    case = "clone/remove cycles"
    snap = faults.snap()
    n = pick(3, 20, 20)
    prefix = faults.name("cc")
    bad: list[str] = []
    for i in range(n):
        made = faults.cli(
            "dockeruser", "clone", faults.bystander, "--count", "2", "--prefix", prefix
        )
        removed = faults.cli(
            "dockeruser", "remove-dev-container", "--clones-of", faults.bystander, "--yes"
        )
        report = faults.check(snap, gone={f"{prefix}{k}" for k in range(1, 3)}, settle=1.0)
        ok = made.returncode == 0 and removed.returncode == 0 and report.clean
        table.record(
            case,
            ok,
            report,
            ""
            if ok
            else f"cycle {i}: clone {made.returncode} {made.stderr.strip()[-200:]}; "
            f"remove {removed.returncode}; {report.describe()}",
        )
        if not ok:
            bad.append(f"cycle {i}: {report.describe()} {made.stderr[-300:]}")
    assert not bad, bad[:3]
