"""Network namespaces: create/remove named ones, and run code inside any of them.

A network namespace is per thread in Linux, so devbox never switches the namespace of a thread
it keeps using: code that must run "inside" a namespace runs in a fresh thread that calls
``setns(2)`` first (:func:`run_in`), or in a child process right after ``fork`` (:func:`preexec`).
Sockets keep the namespace they were created in, so a socket made in such a thread can be used
from anywhere (:func:`connect_in_netns`).
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import threading
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TypeVar

from devbox.errors import NotReadyError, OperationFailed, UserError

CLONE_NEWNET = 0x40000000
NETNS_DIR = Path("/var/run/netns")

T = TypeVar("T")


@cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)  # libc is loaded already


def named_path(name: str) -> Path:
    return NETNS_DIR / name


def pid_path(pid: int) -> Path:
    return Path(f"/proc/{pid}/ns/net")


def setns_current_thread(path: Path | str) -> None:
    """Move the calling thread (or freshly forked child) into the netns at ``path``."""
    fd = os.open(str(path), os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc().setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({path}): {os.strerror(err)}")
    finally:
        os.close(fd)


def preexec(path: Path | str) -> Callable[[], None]:
    """A ``preexec_fn`` that enters the netns at ``path`` in the child before exec."""
    target = str(path)

    def enter() -> None:
        setns_current_thread(target)

    return enter


def run_in(path: Path | str, fn: Callable[[], T], timeout: float | None = 60.0) -> T:
    """Run ``fn()`` in a new thread inside the netns at ``path``; return or re-raise its result."""
    box: dict[str, object] = {}

    def worker() -> None:
        try:
            setns_current_thread(path)
        except OSError as err:
            box["error"] = OperationFailed(
                f"cannot enter network namespace {path}: {err.strerror or err}"
            )
            return
        try:
            box["result"] = fn()
        except BaseException as err:  # noqa: BLE001 - re-raised in the caller
            box["error"] = err

    thread = threading.Thread(target=worker, name=f"netns {path}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise OperationFailed(
            f"work inside network namespace {path} did not finish in {timeout:.0f}s"
        )
    if "error" in box:
        err = box["error"]
        assert isinstance(err, BaseException)
        raise err
    return box["result"]  # type: ignore[return-value]


def exists(name: str) -> bool:
    return named_path(name).exists()


def names() -> list[str]:
    try:
        return sorted(os.listdir(NETNS_DIR))
    except FileNotFoundError:
        return []


def create(name: str) -> None:
    """Create the named netns (``/var/run/netns/NAME``), with loopback up."""
    from pyroute2 import netns as pr_netns

    if exists(name):
        raise OperationFailed(f"network namespace {name} already exists")
    try:
        pr_netns.create(name)
    except OSError as err:
        if err.errno == errno.EPERM:
            raise NotReadyError(
                "creating a network namespace needs root",
                hint="run devbox as root (sudo devbox ...)",
            ) from err
        raise OperationFailed(f"cannot create network namespace {name}: {err}") from err

    def lo_up() -> None:
        from pyroute2 import IPRoute

        with IPRoute() as ipr:
            idx = ipr.link_lookup(ifname="lo")
            if idx:
                ipr.link("set", index=idx[0], state="up")

    run_in(named_path(name), lo_up)


def remove(name: str) -> None:
    """Remove the named netns; devices in it go away with it. Missing is fine."""
    from pyroute2 import netns as pr_netns

    if not exists(name):
        return
    try:
        pr_netns.remove(name)
    except OSError as err:
        raise OperationFailed(f"cannot remove network namespace {name}: {err}") from err


def connect_in_netns(pid: int, host: str, port: int, timeout: float = 5.0) -> socket.socket:
    """A TCP socket created inside the netns of process ``pid`` and connected to host:port.

    The fallback that lets the host reach a container's LAN address when there is no host-side
    shim on the parent (macvlan children cannot be reached through their own parent). Hand the
    socket to paramiko (``sock=``) or use it directly; close it when done.
    """
    path = pid_path(pid)
    if not path.exists():
        raise UserError(f"process {pid} does not exist (container not running?)")

    def make() -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect((host, port))
        except OSError:
            sock.close()
            raise
        return sock

    try:
        return run_in(path, make, timeout=timeout + 5)
    except OSError as err:
        raise OperationFailed(
            f"cannot connect to {host}:{port} from inside the network "
            f"namespace of pid {pid}: {err.strerror or err}"
        ) from err
