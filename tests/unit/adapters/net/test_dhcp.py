"""The DHCP client's resolv.conf text."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_resolv_conf_text() -> None:
    from devbox.adapters.net.dhcp import resolv_conf_text

    assert resolv_conf_text(["10.0.0.1"], "lab").splitlines()[1:] == [
        "search lab",
        "nameserver 10.0.0.1",
    ]


def test_a_session_whose_namespace_is_gone_fails_cleanly(tmp_path: Path) -> None:
    import threading

    from devbox.adapters.net.dhcp import DhcpSession
    from devbox.errors import OperationFailed

    before = threading.active_count()
    sessions = [
        DhcpSession(
            netns=tmp_path / f"gone{i}",
            ifname="lan0",
            mac="02:00:00:00:00:01",
            hostname="h",
            client_id=b"h",
        ).start()
        for i in range(5)
    ]
    for session in sessions:
        assert not session.alive and session.error is not None
        with pytest.raises(OperationFailed, match="failed"):
            session.wait_bound(0.1)
        session.stop()
    from devbox.adapters.net.dhcp_loop import LANES

    # the loop and its workers at most (a fixed number, not one per session)
    assert threading.active_count() <= max(before, 1) + 1 + LANES


def session(name: str = "h", **kwargs: object) -> object:
    from devbox.adapters.net.dhcp import DhcpSession

    return DhcpSession(
        netns=Path("/nonexistent/netns"),
        ifname="lan0",
        mac="02:00:00:00:00:01",
        hostname=name,
        client_id=name.encode(),
        **kwargs,  # type: ignore[arg-type]
    )


def test_a_session_keeps_no_threading_event() -> None:
    """The service holds a session per lease for as long as it runs (issue 17): its flags are
    Latches (a lock each), not Events (a Condition, its lock, a deque and two dicts each);
    before, four Events a session."""
    import threading

    one = session()
    kept = [v for v in vars(one).values() if isinstance(v, threading.Event | threading.Condition)]
    assert kept == []
    from devbox.adapters.net.dhcp import Latch

    assert sum(isinstance(v, Latch) for v in vars(one).values()) == 3


def test_all_sessions_share_one_lease_class_and_one_pair_of_hooks() -> None:
    """Before, each session made a Lease subclass (an ABC: ~3 KB) and two hooks of its own."""
    a, b = session("a"), session("b")
    ca, cb = a.client_config(), b.client_config()  # type: ignore[attr-defined]
    assert ca.lease_type is cb.lease_type
    assert ca.hooks == cb.hooks and all(x is y for x, y in zip(ca.hooks, cb.hooks, strict=True))
    assert (ca.interface, ca.client_id, ca.host_name) == ("lan0", b"a", "a")
    assert (cb.client_id, cb.host_name) == (b"b", "b")


def test_the_lease_class_loads_the_lease_of_the_session_of_its_task() -> None:
    """``lease_type.load`` (pyroute2's client calls it on start) gives the lease the session
    was handed (``lease=``: it starts with a REQUEST for it), found through the context of
    the session's task; a session without one, or no session, starts over (None)."""
    import contextvars

    from devbox.adapters.net.dhcp import SESSION

    raw = {"ack": {"options": {"lease_time": 60}}, "interface": "old", "server_mac": "m"}
    seeded, fresh = session("a", lease={**raw, "obtained": 5.0}), session("b")
    lease_type = seeded.client_config().lease_type  # type: ignore[attr-defined]

    def load_as(who: object) -> object:
        ctx = contextvars.copy_context()
        ctx.run(SESSION.set, who)
        return ctx.run(lease_type.load, "lan0")

    loaded = load_as(seeded)
    assert loaded is not None and isinstance(loaded, lease_type)
    assert (loaded.interface, loaded.obtained, loaded.ack) == ("lan0", 5.0, raw["ack"])  # type: ignore[attr-defined]
    assert load_as(fresh) is None
    assert lease_type.load("lan0") is None  # outside any session's task
    assert load_as(session("c", lease={"bogus": 1})) is None  # not a lease: start over


def test_a_latch_is_set_once_and_wakes_every_waiter() -> None:
    import threading

    from devbox.adapters.net.dhcp import Latch

    latch = Latch()
    assert not latch.is_set() and latch.wait(0) is False and latch.wait(0.01) is False
    woke: list[bool] = []
    waiters = [threading.Thread(target=lambda: woke.append(latch.wait(10))) for _ in range(4)]
    for t in waiters:
        t.start()
    setters = [threading.Thread(target=latch.set) for _ in range(4)]  # more than once: fine
    for t in setters:
        t.start()
    for t in (*setters, *waiters):
        t.join(10)
    assert woke == [True] * 4 and latch.is_set() and latch.wait() and latch.wait(0)
