"""Copy bytes between stdin/stdout and a socket (an ssh ProxyCommand)."""

from __future__ import annotations

import os
import select
import socket


def stdio(sock: socket.socket, bufsize: int = 65536) -> None:
    """Relay until both directions are closed."""
    inp, out = 0, 1
    open_in = True
    try:
        while True:
            rlist = [sock] + ([inp] if open_in else [])
            ready, _, _ = select.select(rlist, [], [])
            if sock in ready:
                data = sock.recv(bufsize)
                if not data:
                    return
                view = memoryview(data)
                while view:
                    n = os.write(out, view)
                    view = view[n:]
            if open_in and inp in ready:
                data = os.read(inp, bufsize)
                if not data:
                    open_in = False
                    sock.shutdown(socket.SHUT_WR)
                else:
                    sock.sendall(data)
    finally:
        sock.close()
