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
