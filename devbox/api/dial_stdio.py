"""Join this process's stdin and stdout to a unix socket, byte for byte, as ``docker system
dial-stdio`` does: what ``devbox --host`` runs over SSH on the other host, so the SSH channel
reaches that host's devbox service and the service sees the SSH user (SO_PEERCRED of this
process). One thread per direction, 64 KiB at a time; done as soon as either side closes."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from pathlib import Path

from devbox.errors import NotReadyError

CHUNK = 65536
SERVICE_HINT = "ask the host's admin to start it: sudo systemctl start devbox"


def open_socket(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
    except PermissionError:
        sock.close()
        raise NotReadyError(
            f"permission denied on the devbox service's socket {path}",
            hint="ask the host's admin to add you to group devbox (usermod -aG devbox $USER)",
        ) from None
    except (FileNotFoundError, ConnectionRefusedError):
        sock.close()
        raise NotReadyError(
            f"the devbox service is not running (no {path})", hint=SERVICE_HINT
        ) from None
    except OSError as err:
        sock.close()
        raise NotReadyError(f"cannot connect to {path}: {err.strerror or err}") from None
    return sock


def relay(sock: socket.socket, stdin: int = 0, stdout: int = 1) -> None:
    """Copy ``stdin`` -> ``sock`` and ``sock`` -> ``stdout`` until either side ends, then
    close the socket (a service whose client went away cancels that client's job)."""
    done = threading.Event()

    def inbound() -> None:
        try:
            while chunk := os.read(stdin, CHUNK):
                sock.sendall(chunk)
        except OSError:
            pass
        finally:
            done.set()

    def outbound() -> None:
        try:
            while chunk := sock.recv(CHUNK):
                view = memoryview(chunk)
                while view:
                    view = view[os.write(stdout, view) :]
        except OSError:
            pass
        finally:
            done.set()

    for fn in (inbound, outbound):
        threading.Thread(target=fn, name=f"relay {fn.__name__}", daemon=True).start()
    try:
        done.wait()
    finally:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()
