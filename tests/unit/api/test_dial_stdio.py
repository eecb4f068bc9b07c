"""dial-stdio's relay: bytes both ways between stdin/stdout and a unix socket, done when
either side closes; a missing socket or one without permission is a one-line exit 3."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest

from devbox.api import dial_stdio
from devbox.errors import NotReadyError


def _echo_server(path: Path, replies: int) -> threading.Thread:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)

    def serve() -> None:
        conn, _ = server.accept()
        with conn, server:
            for _ in range(replies):
                data = conn.recv(65536)
                if not data:
                    return
                conn.sendall(b"echo:" + data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


def test_bytes_go_both_ways_and_the_relay_ends_when_the_service_closes(tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    server = _echo_server(path, replies=1)
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    os.write(in_w, b"GET /v1/version")
    done = threading.Thread(
        target=dial_stdio.relay, args=(dial_stdio.open_socket(path), in_r, out_w), daemon=True
    )
    done.start()
    done.join(10)
    server.join(10)
    assert not done.is_alive()  # the service closed: the relay is over though stdin is open
    os.close(out_w)
    assert os.read(out_r, 1024) == b"echo:GET /v1/version"
    for fd in (in_r, in_w, out_r):
        os.close(fd)


def test_the_relay_ends_when_stdin_closes(tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    _echo_server(path, replies=100)
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    os.close(in_w)  # the SSH client went away
    done = threading.Thread(
        target=dial_stdio.relay, args=(dial_stdio.open_socket(path), in_r, out_w), daemon=True
    )
    done.start()
    done.join(10)
    assert not done.is_alive()
    for fd in (in_r, out_r, out_w):
        os.close(fd)


def test_no_service_is_exit_3_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(NotReadyError, match="the devbox service is not running") as err:
        dial_stdio.open_socket(tmp_path / "none.sock")
    assert err.value.hint and "systemctl start devbox" in err.value.hint
