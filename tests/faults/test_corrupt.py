"""Every record truncated to 0 bytes and to half its length, one at a time; then every command
that reads it runs once. Each gives a clear one-line error (exit 2/3/4 with a hint) or
recovers; none removes or overwrites anything: every other record stays readable, the
corrupt one stays as it is (or is made whole again), every /opt keeps its files."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from tests.faults import table
from tests.faults.conftest import LONG, FaultEnv
from tests.faults.leaks import opt_dirs, records_sums, tree_sums

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.faults]

RECORDS = ["state", "clone", "lease", "checkout", "snapshot"]


def _record(faults: FaultEnv, kind: str, victim: str, clone: str) -> tuple[Path, str]:
    root = faults.root
    if kind == "state":
        return root / "containers" / victim / "state.json", victim
    if kind == "clone":
        return root / "containers" / clone / "clone.json", clone
    if kind == "lease":
        return next((root / "leases").glob(f"{victim}.*.json")), victim
    if kind == "checkout":
        return root / "containers" / victim / "checkout.json", victim
    snap = json.loads((root / "containers" / clone / "clone.json").read_text())["snapshot"]
    return root / "snapshots" / snap / "snapshot.json", clone


def _clear(res: object) -> str:
    """'' when a failing command said what is wrong in one line plus a hint; else why not."""
    rc = res.returncode  # type: ignore[attr-defined]
    err = res.stderr  # type: ignore[attr-defined]
    if rc == 0:
        return ""
    if "Traceback" in err:
        return f"exit {rc} with a traceback: {err.strip()[-300:]}"
    if rc not in (2, 3, 4):
        return f"exit {rc}: {err.strip()[-300:]}"
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    if len(lines) != 1 or "hint:" not in err:
        return f"exit {rc}, not one error line with a hint: {err.strip()[-300:]}"
    return ""


# the short run (CI) truncates every record to 0 bytes and the two most-read ones to half;
# the long run truncates every record both ways
CASES = [
    (kind, how)
    for how in ("empty", "half")
    for kind in RECORDS
    if LONG or how == "empty" or kind in ("state", "lease")
]


@pytest.mark.parametrize(("kind", "how"), CASES)
def test_corrupt_record(faults: FaultEnv, kind: str, how: str) -> None:
    from devbox.state import daemon_pid

    case = f"corrupt records ({how})"
    victim = faults.name("cv")
    faults.make(victim)  # with a checkout: state, lease and checkout records
    made = faults.cli("dockeruser", "clone", victim, "--count", "1", "--prefix", f"{victim}c")
    assert made.returncode == 0, made.stderr[-2000:]
    clone = f"{victim}c1"
    faults.names.append(clone)
    path, target = _record(faults, kind, victim, clone)
    original = path.read_bytes()
    others_before = {k for k in records_sums(faults.root) if not path.samefile(faults.root / k)}
    opts_before = {n: tree_sums(p) for n, p in opt_dirs(faults.root).items()}
    path.write_bytes(b"" if how == "empty" else original[: len(original) // 2])
    corrupt = path.read_bytes()
    problems: list[str] = []
    commands = [
        ["dockeruser", "list-containers"],
        ["dockeruser", "stop", target],
        ["dockeruser", "start-dev-container", target],
        ["dockeruser", "clone", target, "--count", "1", "--prefix", f"{target}x"],
        ["dockeruser", "checkout", target, "--update"],
        ["common", "net", "show"],
    ]
    for argv in commands:
        res = faults.cli(*argv, timeout=180)
        why = _clear(res)
        if why:
            problems.append(f"{' '.join(argv[:2])}: {why}")
    faults.names.append(f"{target}x1")
    faults.cli("dockeruser", "remove-dev-container", f"{target}x1", "--yes", "--purge")
    # daemon reconcile: SIGHUP, then the next reconcile's log lines
    pid = daemon_pid.running_pid(faults.cfg())
    if pid is not None:
        log = faults.root / "logs" / "daemon.log"
        size = log.stat().st_size if log.exists() else 0
        os.kill(pid, signal.SIGHUP)
        time.sleep(2.0)
        new = log.read_bytes()[size:].decode(errors="replace") if log.exists() else ""
        if "internal error" in new:
            problems.append(f"daemon reconcile: {new.strip()[-300:]}")
        if daemon_pid.running_pid(faults.cfg()) is None:
            problems.append("daemon reconcile: the daemon died")
    # nothing removed or overwritten
    now = path.read_bytes() if path.exists() else None
    if now is None:
        problems.append(f"{path.name} was removed")
    elif now != corrupt:
        try:
            json.loads(now)
        except ValueError:
            problems.append(f"{path.name} was overwritten with something unreadable")
    gone = {k for k in others_before if not (faults.root / k).exists()}
    gone = {k for k in gone if f"/{target}x" not in f"/{k}"}
    if gone:
        problems.append(f"records removed: {sorted(gone)}")
    for k in others_before - gone:
        try:
            json.loads((faults.root / k).read_text())
        except (OSError, ValueError):
            problems.append(f"record {k} left unreadable")
    lost = []
    for n, sums in opts_before.items():
        now_sums = tree_sums(opt_dirs(faults.root).get(n, faults.root / "containers" / n / "opt"))
        lost += [
            f"{n}:{r}" for r, d in sums.items() if now_sums.get(r) != d and "/.git/" not in f"/{r}"
        ]
    if lost:
        problems.append(f"/opt files lost: {lost[:10]}")
    # put the record back, and clean up
    path.write_bytes(original)
    for n in (clone, victim):
        faults.remove(n)
    table.record(case, not problems, None, "; ".join(problems)[:400] if problems else "")
    table.ROWS[case].lost += len(lost)
    assert not problems, problems
