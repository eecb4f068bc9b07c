"""DHCP through pyroute2's own client, run from the host inside a container's netns.

A :class:`DhcpSession` is one ``AsyncDHCPClient``, a coroutine on the process's one DHCP loop
(:mod:`devbox.adapters.net.dhcp_loop`: one thread however many leases). Every socket of it (the
client's raw socket, which sends the ARP announcements too, and the netlink sockets of the
hooks) is made inside the container's network namespace (:mod:`devbox.adapters.net.dhcp_netns`),
held open by fd from ``start()`` on, so a reused PID never points a session at another
namespace. The hooks configure address, default route and ``resolv.conf`` in that namespace and
send a gratuitous ARP after every bind. ``resolv.conf`` goes into the container's root through
:class:`devbox.adapters.host.rootfs.RootDir` (opened once at start): a link the tenant planted
there is never followed; that write is then skipped and the lease kept all the same.
The lease is handed to ``on_lease`` at every bind/renew (the caller persists it) and can be
given back (``lease=``) so a new session adopts it with a REQUEST (INIT-REBOOT) instead of
starting over.

pyroute2 restarts discovery at once on a NAK; its retransmission back-off is shortened here so
a lost first packet costs one second, not four.

The service holds a session for every lease of the host for as long as it runs (issue 17), so
what one keeps is small: one lease class and one pair of hooks for all sessions
(:func:`_shared`; the session a hook or ``load`` is for is the context variable
:data:`SESSION` of its task, which every task and timer of that client inherits), and
:class:`Latch` flags rather than threading Events (each a Condition, its lock, a deque and
two dicts: ~1.2 KB).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devbox.adapters.host.rootfs import RootDir
from devbox.errors import OperationFailed

if TYPE_CHECKING:
    from devbox.adapters.net.dhcp_loop import DhcpLoop

LOG = logging.getLogger(__name__)
# the session a task of the DHCP loop works for: set by the session's own task, inherited by
# every task and timer its client starts (so one lease class and one pair of hooks serve all)
SESSION: contextvars.ContextVar[DhcpSession] = contextvars.ContextVar("devbox_dhcp_session")
_SETTING = threading.Lock()  # makes a Latch's check-and-set one step (any thread may set it)


class Latch:
    """A flag that is set once and waited for: ``threading.Event``'s ``set``, ``is_set`` and
    ``wait`` on one lock (held until set; a waiter takes it and gives it back at once)."""

    __slots__ = ("_flag", "_lock")

    def __init__(self) -> None:
        self._flag = False
        self._lock = threading.Lock()
        self._lock.acquire()

    def set(self) -> None:
        with _SETTING:
            if self._flag:
                return
            self._flag = True
        self._lock.release()

    def is_set(self) -> bool:
        return self._flag

    def wait(self, timeout: float | None = None) -> bool:
        wait = -1.0 if timeout is None else max(timeout, 0.0)
        if not self._flag and self._lock.acquire(timeout=wait):
            self._lock.release()
        return self._flag


@dataclass(frozen=True)
class LeaseInfo:
    ip: str
    prefixlen: int
    gateway: str | None
    dns: list[str]
    domain: str
    lease_time: int | None
    renewal_time: int | None
    rebinding_time: int | None
    server_id: str
    obtained: float
    raw: dict[str, Any] = field(repr=False)  # pyroute2 Lease as a dict (persist this)


def fast_backoff(first: float = 1.0, maximum: float = 16.0, steady: int = 8) -> Iterator[float]:
    """Retransmission delays: ``steady`` tries a second apart, then doubling up to ``maximum``.

    On a LAN the server is near: a lost packet should cost a second, and dnsmasq answers a
    DISCOVER it had to ping-check only when the client asks again (so pyroute2's 4-8-16 s
    back-off would turn its 3 s check into 7-15 s).
    """
    for _ in range(steady):
        yield first * random.uniform(0.95, 1.05)
    delay = first * 2
    while True:
        yield delay * random.uniform(0.9, 1.1)
        delay = min(delay * 2, maximum)


def _opt(lease: Any, name: str) -> Any:
    return lease.ack["options"].get(name)


def _info(lease: Any) -> LeaseInfo:
    from pyroute2.common import dqn2int

    mask = _opt(lease, "subnet_mask")
    routers = _opt(lease, "router") or []
    dns = _opt(lease, "name_server") or []
    return LeaseInfo(
        ip=str(lease.ip),
        prefixlen=dqn2int(mask) if mask else 32,
        gateway=str(routers[0]) if routers else None,
        dns=[str(d) for d in dns],
        domain=str(_opt(lease, "domain_name") or ""),
        lease_time=_opt(lease, "lease_time"),
        renewal_time=_opt(lease, "renewal_time"),
        rebinding_time=_opt(lease, "rebinding_time"),
        server_id=str(_opt(lease, "server_id") or ""),
        obtained=float(lease.obtained),
        raw=_jsonable(asdict(lease)),
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def resolv_conf_text(dns: list[str], domain: str) -> str:
    lines = ["# written by devbox from the DHCP lease"]
    if domain:
        lines.append(f"search {domain}")
    lines += [f"nameserver {d}" for d in dns[:3]]
    return "\n".join(lines) + "\n"


class DhcpSession:
    """One DHCP client for one interface in the network namespace at ``netns``, a coroutine on
    the process's one DHCP loop (:func:`devbox.adapters.net.dhcp_loop.shared`).

    ``release_only``: adopt ``lease`` just to send a DHCPRELEASE for it, then stop.
    """

    def __init__(
        self,
        *,
        netns: Path,
        ifname: str,
        mac: str,
        hostname: str,
        client_id: bytes,
        lease: dict[str, Any] | None = None,
        on_lease: Callable[[str, LeaseInfo | None], None] | None = None,
        container_root: Path | None = None,
        release_only: bool = False,
        name: str = "",
    ) -> None:
        self.netns = netns
        self.ifname = ifname
        self.mac = mac
        self.hostname = hostname
        self.client_id = client_id
        self.initial = lease
        self.on_lease = on_lease
        self.container_root = container_root  # /proc/PID/root: its /etc/resolv.conf is ours
        self._root: RootDir | None = None
        self.release_only = release_only
        self.name = name or f"dhcp {hostname}/{ifname}"
        self.release_on_stop = False
        self.current: LeaseInfo | None = None
        self.error: BaseException | None = None
        self._bound = False  # the first bind's files are on disk
        self._done = Latch()
        self._wake = Latch()  # the first bind or the end: what wait_bound waits for
        self._ready = Latch()
        self._dloop: DhcpLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = False
        self._ns_fd: int | None = None
        self._sock: Any = None  # the client's raw socket (ARP goes out on it too)
        self._ifindex = 0

    # --- public ---------------------------------------------------------------------------

    def start(self) -> DhcpSession:
        from devbox.adapters.net import dhcp_loop

        if self.container_root is not None:
            try:  # now, while the caller knows the PID is the container's
                self._root = RootDir.open(
                    self.container_root, f"container {self.hostname}", follow=True
                )
            except OperationFailed as err:
                LOG.error("%s: resolv.conf will not be written: %s", self.name, err.message)
        self._dloop = dhcp_loop.shared()
        self._stop = asyncio.Event()  # bound to the loop on its first use there
        try:  # held open: the namespace stays the one of this PID, even if the PID is reused
            self._ns_fd = os.open(self.netns, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as err:
            self.error = err
            self._finish()
            return self
        self._started = True
        self._dloop.spawn(self._main())
        if not self._dloop.on_own_thread():
            self._ready.wait(10)
        return self

    def wait_bound(self, timeout: float) -> LeaseInfo:
        """Block until the first bind; OperationFailed after ``timeout`` seconds, or as soon
        as the client has failed."""
        self._wake.wait(timeout)  # the first bind, or the client's end
        if not self._bound or self.current is None:
            if self.error is not None:
                raise OperationFailed(f"DHCP client on {self.ifname} failed: {self.error}")
            if self._done.is_set():
                raise OperationFailed(f"DHCP client on {self.ifname} stopped before a lease")
            raise OperationFailed(
                f"no DHCP answer for {self.hostname} on {self.ifname} within {timeout:g}s",
                hint="check that a DHCP server serves the parent's LAN (devbox common lab "
                "status), or raise dhcp_timeout",
            )
        return self.current

    @property
    def alive(self) -> bool:
        return self._started and not self._done.is_set()

    def stop(self, release: bool = False, timeout: float = 10.0) -> None:
        """Stop the client. ``release``: send DHCPRELEASE and remove the address first."""
        self.release_on_stop = release
        dloop, stop = self._dloop, self._stop
        if dloop is None or stop is None:
            return
        dloop.call_soon(stop.set)
        if not dloop.on_own_thread():
            self._done.wait(timeout)

    # --- on the loop ----------------------------------------------------------------------

    async def _main(self) -> None:
        SESSION.set(self)  # this task's context: its client's tasks and timers inherit it
        try:
            await self._run()
        except BaseException as err:  # noqa: BLE001 - reported through wait_bound/error
            LOG.warning("%s: %r", self.name, err)
            self.error = err
        finally:
            if self._ns_fd is not None:
                os.close(self._ns_fd)
                self._ns_fd = None
            assert self._dloop is not None
            self._dloop.later(self._finish)  # after the files of its last bind

    def _finish(self) -> None:
        self._close_root()
        self._ready.set()
        self._done.set()
        self._wake.set()

    def _netns(self) -> int:
        if self._ns_fd is None:
            raise OperationFailed(f"{self.name}: stopped")
        return self._ns_fd

    def _close_root(self) -> None:
        if self._root is not None:
            self._root.close()
            self._root = None

    def client_config(self) -> Any:
        """The pyroute2 ``ClientConfig`` of this session: its own names, the lease class,
        hooks and time-outs all sessions share."""
        from pyroute2.dhcp.client import ClientConfig

        lease_type, hooks, timeouts = _shared()
        return ClientConfig(
            interface=self.ifname,
            lease_type=lease_type,
            hooks=hooks,
            handle_signals=False,
            release=False,
            client_id=self.client_id,
            host_name=self.hostname,
            vendor_id="devbox",
            hook_timeout=10.0,
            retransmission=fast_backoff,
            timeouts=timeouts,
        )

    async def _run(self) -> None:
        from devbox.adapters.net.dhcp_netns import NetnsDHCPClient

        assert self._dloop is not None and self._stop is not None and self._ns_fd is not None
        config = self.client_config()
        async with NetnsDHCPClient(config, self._dloop, self._ns_fd, self.mac) as client:
            self._sock, self._ifindex = client._sock, client._sock.ifindex
            self.initial = None  # the client has it now (its first bind replaces it)
            self._ready.set()
            if self.release_only:
                self.release_on_stop = True
            else:
                await client.bootstrap()
                await self._stop.wait()
            # __aexit__ sends DHCPRELEASE (and runs the UNBOUND hooks) only when asked to
            client.config.release = self.release_on_stop and client.lease is not None
            if client.config.release and client.lease is not None and client.lease.expired:
                client.config.release = False

    async def _configure(self, lease: Any) -> None:
        from devbox.adapters.net.dhcp_netns import iproute

        info = _info(lease)
        old = self.current
        assert self._dloop is not None
        async with iproute(self._dloop, self._netns()) as ipr:
            idx = self._ifindex
            if old is not None and (old.ip, old.prefixlen) != (info.ip, info.prefixlen):
                try:
                    await ipr.addr("del", index=idx, address=old.ip, prefixlen=old.prefixlen)
                except Exception as err:  # noqa: BLE001 - the old address may be gone
                    LOG.debug("%s: removing old address: %r", self.name, err)
            await ipr.addr("replace", index=idx, address=info.ip, prefixlen=info.prefixlen)
            if info.gateway:
                await ipr.route("replace", dst="0.0.0.0/0", gateway=info.gateway, oif=idx)
        self._announce(info.ip)
        # and once more a second later, off the critical path
        asyncio.get_running_loop().call_later(1.0, self._announce, info.ip)
        self.current = info
        # files (resolv.conf, the caller's record) are synced: on the worker, in order
        self._dloop.later(self._bound_files, "bound" if old is None else "renewed", info)

    def _bound_files(self, event: str, info: LeaseInfo) -> None:
        """On the loop's worker thread: resolv.conf, then ``on_lease``; then a first bind is
        reported (wait_bound returns once both are on disk)."""
        if self._root is not None and info.dns:
            self._write_resolv(self._root, info)
        self._tell(event, info)
        self._bound = True
        self._wake.set()

    def _tell(self, event: str, info: LeaseInfo | None) -> None:
        if self.on_lease is not None:
            try:
                self.on_lease(event, info)
            except Exception as err:  # noqa: BLE001 - never kill the client over bookkeeping
                LOG.error("%s: on_lease: %r", self.name, err)

    def _announce(self, ip: str) -> None:
        from devbox.adapters.net import arp

        sock = self._sock
        if sock is None or self._done.is_set() or sock.fileno() < 0:
            return  # stopped meanwhile
        try:  # on the client's own raw socket: a new one would cost a grace period to close
            for frame in arp.announcement(self.mac, ip):
                sock.sendto(frame, (self.ifname, arp.ETH_P_ARP))  # sent as ARP, not as IP
        except OSError as err:
            LOG.warning("%s: gratuitous ARP: %r", self.name, err)

    def _write_resolv(self, root: RootDir, info: LeaseInfo) -> None:
        """The lease's name servers into the container's /etc/resolv.conf; a planted link
        (there or on the way) is refused and logged, and the lease is kept all the same."""
        try:
            root.write_file(
                "/etc/resolv.conf", resolv_conf_text(info.dns, info.domain).encode(), 0o644
            )
        except OperationFailed as err:
            LOG.error("%s: not writing resolv.conf: %s", self.name, err.message)
        except OSError as err:
            LOG.info("%s: cannot write resolv.conf: %r", self.name, err)

    async def _unconfigure(self, lease: Any) -> None:
        from devbox.adapters.net.dhcp_netns import iproute

        info = self.current
        self.current = None
        if info is not None:
            try:
                assert self._dloop is not None
                async with iproute(self._dloop, self._netns()) as ipr:
                    found = await ipr.link_lookup(ifname=self.ifname)
                    if found:
                        await ipr.addr(
                            "del", index=found[0], address=info.ip, prefixlen=info.prefixlen
                        )
            except Exception as err:  # noqa: BLE001 - address may already be gone
                LOG.debug("%s: unconfigure: %r", self.name, err)
        if self._dloop is not None:
            self._dloop.later(self._tell, "unbound", None)


@cache
def _shared() -> tuple[type[Any], tuple[Any, ...], dict[Any, int]]:
    """The lease class, the hooks and the state time-outs of every session's client (made
    once: pyroute2 is imported only when a session runs). Each finds its session in
    :data:`SESSION`."""
    from pyroute2.dhcp import fsm
    from pyroute2.dhcp.hooks import Trigger, hook
    from pyroute2.dhcp.leases import Lease

    class SessionLease(Lease):
        def dump(self) -> None:  # persisted by the session's owner via on_lease
            pass

        @classmethod
        def load(cls, interface: str) -> SessionLease | None:
            """The lease the session was given (``lease=``): the client starts with a
            REQUEST for it (INIT-REBOOT)."""
            session = SESSION.get(None)
            if session is None or not session.initial:
                return None
            try:
                data = dict(session.initial)
                data["interface"] = interface
                return cls(**data)
            except (TypeError, KeyError, ValueError):
                return None

    @hook(Trigger.BOUND, Trigger.RENEWED, Trigger.REBOUND)
    async def bound(lease: Any) -> None:
        await SESSION.get()._configure(lease)

    @hook(Trigger.UNBOUND, Trigger.EXPIRED)
    async def unbound(lease: Any) -> None:
        await SESSION.get()._unconfigure(lease)

    timeouts = {fsm.State.REBOOTING: 3, fsm.State.REQUESTING: 5, fsm.State.SELECTING: 60 * 15}
    return SessionLease, (bound, unbound), timeouts
