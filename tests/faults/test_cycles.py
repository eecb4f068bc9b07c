"""Many make/remove and clone/remove cycles leave nothing behind (short, as CI runs it: 50
and 3; long: 50 and 20; bench/faults.py --full: 100 and 20)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import pytest

from tests.faults import table
from tests.faults.conftest import FaultEnv, pick

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.faults]

Ran = subprocess.CompletedProcess[str]


def _cycles(
    faults: FaultEnv,
    case: str,
    n: int,
    verb: str,
    make: Callable[[], Ran],
    remove: Callable[[], Ran],
    gone: set[str],
) -> list[str]:
    """``n`` cycles of ``make()`` then ``remove()``, each checked to leave nothing (``gone``:
    the names the cycle made), each a row of the table; what went wrong, by cycle."""
    snap = faults.snap()
    bad: list[str] = []
    for i in range(n):
        made = make()
        removed = remove()
        report = faults.check(snap, gone=gone, settle=1.0)
        ok = made.returncode == 0 and removed.returncode == 0 and report.clean
        table.record(
            case,
            ok,
            report,
            ""
            if ok
            else f"cycle {i}: {verb} {made.returncode} {made.stderr.strip()[-200:]}; "
            f"remove {removed.returncode}; {report.describe()}",
        )
        if not ok:
            bad.append(f"cycle {i}: {report.describe()} {made.stderr[-300:]}")
    return bad


def test_make_remove_cycles(faults: FaultEnv) -> None:
    n = pick(50, 50, 100)  # the issue: 100 cycles, 50 in CI
    name = faults.name("cy")  # one name, reused: the DHCP server knows it
    bad = _cycles(
        faults,
        "make/remove cycles",
        n,
        "make",
        lambda: faults.cli(
            "dockeruser", "make-dev-container", name, "--branch", "main", "--no-checkout"
        ),
        lambda: faults.remove(name),
        gone={name},
    )
    assert not bad, bad[:3]


def test_clone_remove_cycles(faults: FaultEnv) -> None:
    n = pick(3, 20, 20)
    prefix = faults.name("cc")
    bad = _cycles(
        faults,
        "clone/remove cycles",
        n,
        "clone",
        lambda: faults.cli(
            "dockeruser", "clone", faults.bystander, "--count", "2", "--prefix", prefix
        ),
        lambda: faults.cli(
            "dockeruser", "remove-dev-container", "--clones-of", faults.bystander, "--yes"
        ),
        gone={f"{prefix}{k}" for k in range(1, 3)},
    )
    assert not bad, bad[:3]
