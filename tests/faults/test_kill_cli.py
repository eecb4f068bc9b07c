"""kill -9 of the devbox CLI at every step of make-dev-container, clone, remove-dev-container
and checkout --update (one run per step); the same command again converges (exit 0), then
remove leaves nothing, and the bystander's /opt keeps every file."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.faults import table
from tests.faults.conftest import FaultEnv
from tests.faults.leaks import Report
from tests.fixtures.devcontainers import MAKE_STEPS

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.faults]

FREEZE_STEPS = ["commit + /opt snapshot", "sysprep"]
CLONE_STEPS = [
    "/opt overlay",
    "create + sysprep",
    "boot",
    "attach LAN (DHCP)",
    "ARP check",
    "wait for sshd",
    "SSH config entry",
]
# the freeze (the source is paused in step 1), then each step of clone 1 (of 3)
CLONE_CASES = [("freeze", i, s) for i, s in enumerate(FREEZE_STEPS, 1)] + [
    ("clone", i, s) for i, s in enumerate(CLONE_STEPS, 1)
]


def _rerun_note(
    where: str, again: subprocess.CompletedProcess[str], report: Report, *more: str
) -> str:
    """The table's note on a case that did not converge: the rerun's exit and error, ``more``,
    then what leaked."""
    rerun = f"{where}: rerun {again.returncode} {again.stderr.strip()[-300:]}"
    return "; ".join([rerun, *more, report.describe()])


def _fail(case: str, msg: str) -> None:
    table.record(case, False, note=msg[:300])
    pytest.fail(msg)


@pytest.mark.parametrize(
    "index,step", list(enumerate(MAKE_STEPS, 1)), ids=[s.replace(" ", "-") for s in MAKE_STEPS]
)
def test_kill_make_at_step(faults: FaultEnv, index: int, step: str) -> None:
    case = "kill -9 make-dev-container"
    snap = faults.snap()
    name = faults.name("km")
    argv = ["dockeruser", "make-dev-container", name, "--branch", "main"]
    k = faults.kill_when(
        argv, faults.log_marker(name, f"[{step}] start ({index}/{len(MAKE_STEPS)})")
    )
    assert k.killed, f"make ended before step {index} ({step}) began: {k.err[-2000:]}"
    # the last step takes milliseconds: the kill may land after the make finished
    state = faults.root / "containers" / name / "state.json"
    finished = state.exists() and json.loads(state.read_text()).get("ready") is True
    again = faults.cli(*argv)
    if finished and again.returncode == 2 and "already exists" in again.stderr:
        again = faults.cli("dockeruser", "start-dev-container", name)  # it is whole
    if again.returncode != 0:
        faults.remove(name)
        _fail(
            case,
            f"step {index} ({step}): rerun exit {again.returncode}: {again.stderr.strip()[-600:]}",
        )
    removed = faults.remove(name)
    report = faults.check(snap, gone={name})
    ok = removed.returncode == 0 and report.clean
    table.record(case, ok, report, "" if ok else f"step {index}: {report.describe()}")
    assert removed.returncode == 0, removed.stderr
    assert report.clean, report.describe()


def _remove_points(faults: FaultEnv, name: str) -> list[tuple[str, object]]:
    """Observable points of a remove (it has no step runner): kill when each shows."""
    from devbox import locks
    from devbox.adapters.docker import containers as dc

    root = faults.root
    lock_dir = root / "run" / "locks"
    leases = root / "leases"

    def lock_held() -> bool:
        return locks.is_held(lock_dir, "name", name)

    def lease_going() -> bool:
        recs = list(leases.glob(f"{name}.*.json"))
        return not recs or any("detaching" in p.read_text(errors="replace") for p in recs)

    def container_gone() -> bool:
        return dc.inspect(name) is None

    def state_gone() -> bool:
        return not (root / "containers" / name / "state.json").exists()

    return [
        ("lock taken", lock_held),
        ("lease released", lease_going),
        ("container removed", container_gone),
        ("state cleared", state_gone),
    ]


REMOVE_POINTS = ["lock taken", "lease released", "container removed", "state cleared"]


@pytest.mark.parametrize("point", REMOVE_POINTS)
def test_kill_remove_at_step(faults: FaultEnv, point: str) -> None:
    case = "kill -9 remove-dev-container"
    snap = faults.snap()
    name = faults.name("kr")
    faults.make(name, "--no-checkout")
    ready = dict(_remove_points(faults, name))[point]
    argv = ["dockeruser", "remove-dev-container", name, "--yes", "--purge"]
    k = faults.kill_when(argv, ready)  # type: ignore[arg-type]
    again = faults.cli(*argv)
    # the rerun converges: it removes what is left, or says there is nothing left (exit 2)
    gone_already = again.returncode == 2 and "no container named" in again.stderr
    report = faults.check(snap, gone={name})
    ok = (again.returncode == 0 or gone_already) and report.clean
    table.record(
        case,
        ok,
        report,
        "" if ok else _rerun_note(f"{point} (killed={k.killed})", again, report),
    )
    assert again.returncode == 0 or gone_already, again.stderr
    assert report.clean, report.describe()


CHECKOUT_POINTS = ["update logged", "git running", "record written"]


@pytest.mark.parametrize("point", CHECKOUT_POINTS)
def test_kill_checkout_update_at_step(faults: FaultEnv, point: str) -> None:
    case = "kill -9 checkout --update"
    snap = faults.snap()
    name = faults.bystander
    record = faults.root / "containers" / name / "checkout.json"
    before = record.stat().st_mtime_ns if record.exists() else 0
    log_ready = faults.log_marker(name, "(update)")

    def git_running() -> bool:
        return log_ready() and _git_under(faults.root)

    def record_written() -> bool:
        return record.exists() and record.stat().st_mtime_ns != before

    ready = {
        "update logged": log_ready,
        "git running": git_running,
        "record written": record_written,
    }[point]
    argv = ["dockeruser", "checkout", name, "--update"]
    faults.push_commit()  # something to update
    k = faults.kill_when(argv, ready)
    time.sleep(0.5)  # a git child of the killed CLI finishes on its own
    again = faults.cli(*argv)
    report = faults.check(snap, gone=set())
    ok = again.returncode == 0 and report.clean and _checked_out_head(faults)
    table.record(
        case,
        ok,
        report,
        "" if ok else _rerun_note(f"{point} (killed={k.killed})", again, report),
    )
    assert again.returncode == 0, again.stderr
    assert report.clean, report.describe()
    assert _checked_out_head(faults), "the rerun did not bring /opt/src to the new commit"


def _checked_out_head(faults: FaultEnv) -> bool:
    head = subprocess.run(
        ["git", "--git-dir", str(faults.repo), "rev-parse", "main"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    rec = faults.root / "containers" / faults.bystander / "checkout.json"
    return head in rec.read_text()


def _git_under(root: Path) -> bool:
    """A git process working in a tree under ``root`` (the checkout of the killed CLI)."""
    import os

    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
            if not cmd.startswith(b"git") and b"/git\0" not in cmd[:40]:
                continue
            cwd = os.readlink(f"/proc/{entry}/cwd")
        except OSError:
            continue
        if cwd.startswith(str(root)):
            return True
    return False


@pytest.mark.parametrize(
    "phase,index,step", CLONE_CASES, ids=[f"{p}-{s.replace(' ', '-')}" for p, _i, s in CLONE_CASES]
)
def test_kill_clone_at_step(faults: FaultEnv, phase: str, index: int, step: str) -> None:
    case = "kill -9 clone -n 3"
    snap = faults.snap()
    src = faults.bystander
    prefix = faults.name("kc")
    names = {f"{prefix}{i}" for i in range(1, 7)}
    total = len(FREEZE_STEPS) if phase == "freeze" else len(CLONE_STEPS)
    watch = src if phase == "freeze" else f"{prefix}1"
    argv = ["dockeruser", "clone", src, "--count", "3", "--prefix", prefix]
    k = faults.kill_when(argv, faults.log_marker(watch, f"[{step}] start ({index}/{total})"))
    assert k.killed, f"clone ended before {phase} step {index} ({step}): {k.err[-2000:]}"
    again = faults.cli(*argv)
    cleaned = faults.cli("dockeruser", "remove-dev-container", "--clones-of", src, "--yes")
    for n in names:  # anything a clone of this run left that remove --clones-of did not
        if (faults.root / "containers" / n).exists():
            faults.remove(n)
    report = faults.check(snap, gone=names)
    ok = again.returncode == 0 and cleaned.returncode == 0 and report.clean
    table.record(
        case,
        ok,
        report,
        ""
        if ok
        else _rerun_note(f"{phase} step {index}", again, report, f"remove {cleaned.returncode}"),
    )
    assert again.returncode == 0, again.stderr[-2000:]
    assert cleaned.returncode == 0, cleaned.stderr[-2000:]
    assert report.clean, report.describe()
