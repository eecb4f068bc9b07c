"""Network namespaces: create/remove named ones, and run code inside any of them.

A network namespace is per thread in Linux, so devbox never switches the namespace of a thread
it keeps using: code that must run "inside" a namespace runs in a fresh thread that calls
``setns(2)`` first (:func:`run_in`), or in a child process right after ``fork`` (:func:`preexec`).
Sockets keep the namespace they were created in, so a socket made in such a thread can be used
from anywhere (:func:`connect_in_netns`).

What is short and never blocks (making a socket, a sysctl write) runs in a *window* instead
(:func:`window`, :func:`socket_in`): the process's one window thread enters the namespace, runs
it and goes straight back to the host's, so a netlink socket of a container's namespace costs no
thread of its own (20 attaches at once made a thread and a namespace switch per netlink call).
A namespace is given by path or by an open fd (:func:`open_ns`: held, so a reused PID never
points later steps at another namespace).
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import errno
import logging
import os
import queue
import socket
import threading
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TypeVar

from devbox.adapters.net.per_process import PerProcess
from devbox.errors import NotReadyError, OperationFailed, UserError

CLONE_NEWNET = 0x40000000
NETNS_DIR = Path("/var/run/netns")
LOG = logging.getLogger(__name__)
WINDOW_TIMEOUT = 10.0  # seconds for one window (its work never blocks: a bound, not a wait)

T = TypeVar("T")


@cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)  # libc is loaded already


def named_path(name: str) -> Path:
    return NETNS_DIR / name


def pid_path(pid: int) -> Path:
    return Path(f"/proc/{pid}/ns/net")


def setns_current_thread(path: Path | str | int) -> None:
    """Move the calling thread (or freshly forked child) into the netns at ``path`` (or the
    open fd ``path``)."""
    if isinstance(path, int):
        _setns_fd(path, f"fd {path}")
        return
    fd = os.open(str(path), os.O_RDONLY | os.O_CLOEXEC)
    try:
        _setns_fd(fd, str(path))
    finally:
        os.close(fd)


def _setns_fd(fd: int, shown: str) -> None:
    if _libc().setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns({shown}): {os.strerror(err)}")


def open_ns(path: Path | str) -> int:
    """An open fd of the netns at ``path`` (``/proc/PID/ns/net`` of a PID devbox got from
    Docker: procfs, which no container can plant a link in); close it when done."""
    try:
        return os.open(str(path), os.O_RDONLY | os.O_CLOEXEC)
    except OSError as err:
        raise OperationFailed(
            f"cannot open network namespace {path}: {err.strerror or err}",
            hint="is the container still running?",
        ) from err


class _Windows:
    """The window thread: runs short functions inside a namespace, one at a time, and comes
    back to the host's namespace after each. Should the way back ever fail it is broken: it
    fails what is left and :func:`_windows` starts another (whose thread starts at home)."""

    def __init__(self) -> None:
        self.broken = False
        self._home = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        self._jobs: queue.SimpleQueue[
            tuple[int | str, Callable[[], object], concurrent.futures.Future[object]]
        ] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="netns windows", daemon=True)
        self._thread.start()

    def run(self, netns: Path | str | int, fn: Callable[[], T], timeout: float) -> T:
        done: concurrent.futures.Future[object] = concurrent.futures.Future()
        self._jobs.put((netns if isinstance(netns, int) else str(netns), fn, done))
        try:
            return done.result(timeout)  # type: ignore[return-value]
        except concurrent.futures.TimeoutError as err:
            done.cancel()  # not started yet: never runs
            raise OperationFailed(
                f"work inside network namespace {netns} did not finish in {timeout:.0f}s"
            ) from err

    def _serve(self) -> None:
        try:
            _setns_fd(self._home, "the host's")
        except OSError as err:
            self.broken = True
            LOG.critical("netns windows: cannot enter the host's namespace: %r", err)
        while not self.broken:
            netns, fn, done = self._jobs.get()
            if not done.set_running_or_notify_cancel():
                continue
            try:
                setns_current_thread(netns)
            except OSError as err:
                done.set_exception(
                    OperationFailed(f"cannot enter network namespace {netns}: {err.strerror}")
                )
                continue
            try:
                result, error = fn(), None
            except BaseException as err:  # noqa: BLE001 - handed to the caller
                result, error = None, err
            finally:
                try:
                    _setns_fd(self._home, "the host's")
                except OSError as err:
                    self.broken = True
                    LOG.critical("netns windows: cannot go back to the host's namespace: %r", err)
            if error is not None:
                done.set_exception(error)
            else:
                done.set_result(result)
        while True:  # broken: fail what is left (callers wait with a bound anyway)
            try:
                _netns, _fn, done = self._jobs.get_nowait()
            except queue.Empty:
                return
            done.set_exception(OperationFailed("the network namespace window thread is broken"))


_WINDOWS = PerProcess(_Windows)


def _windows() -> _Windows:
    return _WINDOWS.get()


def window(netns: Path | str | int, fn: Callable[[], T], timeout: float = WINDOW_TIMEOUT) -> T:
    """``fn()`` run inside the netns at ``netns`` (a path or an open fd) on the process's one
    window thread, which goes back to the host's namespace right after; its result or error.
    ``fn`` must be short and never block (it holds up every other window): make a socket,
    write a sysctl. Anything longer runs in :func:`run_in`."""
    return _windows().run(netns, fn, timeout)


def socket_in(netns: Path | str | int, family: int, kind: int, proto: int = 0) -> socket.socket:
    """A socket made inside the netns at ``netns`` (a window): it stays bound to that
    namespace wherever it is used from."""

    def make() -> socket.socket:
        return socket.socket(family, kind, proto)  # close-on-exec, as every Python socket

    return window(netns, make)


def preexec(path: Path | str) -> Callable[[], None]:
    """A ``preexec_fn`` that enters the netns at ``path`` in the child before exec."""
    target = str(path)

    def enter() -> None:
        setns_current_thread(target)

    return enter


def run_in(path: Path | str | int, fn: Callable[[], T], timeout: float | None = 60.0) -> T:
    """Run ``fn()`` in a new thread inside the netns at ``path`` (or the open fd ``path``);
    return or re-raise its result."""
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
        from pyroute2.iproute import IPRoute  # not pyroute2's __init__: host/memory.py

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
