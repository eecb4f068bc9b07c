"""The service keeps every lease on one DHCP event loop: its threads do not grow with leases.

Counted, not timed: the service's threads (``/proc/PID/task``) holding one lease, then holding
several more; and the leases stay alive (a renewal on the loop is in test_net's short-lease
test). A container that dies while the loop holds its lease does not hurt the others'.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests import waits
from tests.fixtures.lab import LabEnv, adopted

pytestmark = pytest.mark.integration

MORE = 5  # leases beyond the first: the old way added a thread for each


def threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def steady_threads(pid: int) -> int:
    """The fewest threads over a few reads: a short-lived worker (a netlink call inside a
    namespace runs on a thread of its own for a moment) is not counted."""
    from devbox.waits import poll

    counts: list[int] = []

    def enough() -> bool:
        counts.append(threads(pid))
        return len(counts) >= 15

    poll(enough, 5.0, 0.1)
    return min(counts)


def test_service_threads_do_not_grow_with_leases(
    lab: LabEnv, lab_container: Any, daemon: int
) -> None:
    from devbox.services import network

    cfg = lab.cfg()
    first = lab_container()
    network.attach(cfg, first.name)
    waits.wait_for(lambda: adopted(lab, first.name), 20, "the first lease adopted")
    one = steady_threads(daemon)

    more = [lab_container() for _ in range(MORE)]
    for ctr in more:
        network.attach(cfg, ctr.name)
    names = [ctr.name for ctr in more]
    waits.wait_for(lambda: all(adopted(lab, n) for n in names), 20, "every lease adopted")
    several = steady_threads(daemon)
    assert several <= one, f"{one} threads with 1 lease, {several} with {1 + MORE}"

    # one container dies under the loop: the others' sessions go on, the daemon too
    more[0].kill()
    waits.wait_for(
        lambda: "container stopped; lease kept" in (lab.root / "logs" / "daemon.log").read_text(),
        20,
        "the die event handled",
    )
    for ctr in [first, *more[1:]]:
        att = network.wait_attached(cfg, ctr.name, timeout=10)
        assert att.ip
    assert steady_threads(daemon) <= one
    for ctr in [first, *more[1:]]:
        network.detach(cfg, ctr.name)
