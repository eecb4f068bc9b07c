"""run-on's result record."""

from __future__ import annotations

from devbox.services.runon import RunResult


def test_run_result_tail() -> None:
    r = RunResult("a", 1, 0.5, stdout="one\ntwo\n\nthree\n", stderr="err\n")
    assert r.tail(2) == ["three", "err"]
    assert not r.ok and RunResult("b", 0, 0.1).ok
    assert r.to_dict()["ok"] is False


def test_processes_bounded_by_cpus_and_connections() -> None:
    """The connections of a run are shared out to one process per CPUS_PER_PROCESS CPUs
    (their sshds take the rest), each with at least PER_PROCESS of them; always one."""
    from devbox.services import runon

    per, cpus = runon.PER_PROCESS, runon.CPUS_PER_PROCESS
    assert runon.processes(1) == 1 and runon.processes(0, cpus=64) == 1
    assert runon.processes(1000, cpus=2) == 1  # this 2-core machine: threads only
    assert runon.processes(1000, cpus=2 * cpus) == 2
    assert runon.processes(1000, cpus=64) == 64 // cpus
    assert runon.processes(per * 2 - 1, cpus=64) == 1
    assert runon.processes(per * 3, cpus=64) == 3
