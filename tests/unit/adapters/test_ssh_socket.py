"""The socket SSH runs on: TCP_NODELAY set, the same connection and time-out after, reads that
still work (the ACK timing itself is measured, not asserted: see the module's docstring)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from devbox.adapters import ssh_socket


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    yield srv
    srv.close()


def test_a_tcp_connection_gets_nodelay_and_keeps_its_timeout(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    sock = ssh_socket.connect("127.0.0.1", port, timeout=3.5)
    peer, _ = listener.accept()
    try:
        assert isinstance(sock, ssh_socket.QuickAckSocket)
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        assert sock.gettimeout() == 3.5
        peer.sendall(b"SSH-2.0-test\r\n")
        assert sock.recv(64) == b"SSH-2.0-test\r\n"
        sock.sendall(b"hello")
        assert peer.recv(64) == b"hello"
        assert ssh_socket.tuned(sock) is sock  # once is enough
    finally:
        sock.close()
        peer.close()


def test_a_socket_that_is_not_tcp_comes_back_as_it_is() -> None:
    a, b = socket.socketpair()
    try:
        assert ssh_socket.tuned(a) is a
    finally:
        a.close()
        b.close()


def test_every_paramiko_transport_devbox_opens_runs_on_a_tuned_socket(
    listener: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    """open_transport (run-on) and server_host_key (waiting for sshd) hand paramiko the
    tuned socket, not the one they were given."""
    import paramiko

    from devbox.adapters import ssh

    given: list[object] = []

    class Stop(Exception):
        pass

    def fake_transport(sock: object) -> None:
        given.append(sock)
        raise Stop

    monkeypatch.setattr(paramiko, "Transport", fake_transport)
    port = listener.getsockname()[1]
    for call in (
        lambda s: ssh.open_transport("127.0.0.1", "dev", None, ssh.HostKeys(Path("/none"), {}), s),  # type: ignore[arg-type]
        lambda s: ssh.server_host_key(s, ["ssh-ed25519"]),
    ):
        plain = socket.create_connection(("127.0.0.1", port), timeout=2)
        listener.accept()[0].close()
        with pytest.raises(Stop):
            call(plain)
        assert isinstance(given[-1], ssh_socket.QuickAckSocket)
        given[-1].close()  # type: ignore[attr-defined]
