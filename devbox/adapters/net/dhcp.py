"""DHCP through pyroute2's own client, run from the host inside a container's netns.

A :class:`DhcpSession` is one ``AsyncDHCPClient`` on its own thread. The thread enters the
container's network namespace first, so the client's raw socket and every netlink socket the
hooks open live there. The hooks configure address, default route and ``resolv.conf`` in that
namespace and send a gratuitous ARP after every bind. ``resolv.conf`` goes into the container's
root through :class:`devbox.adapters.host.rootfs.RootDir` (opened once at start): a link the tenant
planted there is never followed; that write is then skipped and the lease kept all the same.
The lease is handed to ``on_lease`` at every bind/renew (the caller persists it) and can be
given back (``lease=``) so a new session adopts it with a REQUEST (INIT-REBOOT) instead of
starting over.

pyroute2 restarts discovery at once on a NAK; its retransmission back-off is shortened here so
a lost first packet costs one second, not four.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from devbox.adapters.host.rootfs import RootDir
from devbox.adapters.net import netns as nsmod
from devbox.errors import OperationFailed

LOG = logging.getLogger(__name__)


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
    """One DHCP client for one interface in the network namespace at ``netns``.

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
        self._bound = threading.Event()
        self._done = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    # --- public ---------------------------------------------------------------------------

    def start(self) -> DhcpSession:
        if self.container_root is not None:
            try:  # now, while the caller knows the PID is the container's
                self._root = RootDir.open(
                    self.container_root, f"container {self.hostname}", follow=True
                )
            except OperationFailed as err:
                LOG.error("%s: resolv.conf will not be written: %s", self.name, err.message)
        self._thread = threading.Thread(target=self._main, name=self.name, daemon=True)
        self._thread.start()
        self._ready.wait(10)
        return self

    def wait_bound(self, timeout: float) -> LeaseInfo:
        """Block until the first bind; OperationFailed after ``timeout`` seconds."""
        if not self._bound.wait(timeout):
            if self.error is not None:
                raise OperationFailed(f"DHCP client on {self.ifname} failed: {self.error}")
            raise OperationFailed(
                f"no DHCP answer for {self.hostname} on {self.ifname} within {timeout:g}s",
                hint="check that a DHCP server serves the parent's LAN (devbox common lab "
                "status), or raise dhcp_timeout",
            )
        assert self.current is not None
        return self.current

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, release: bool = False, timeout: float = 10.0) -> None:
        """Stop the client. ``release``: send DHCPRELEASE and remove the address first."""
        self.release_on_stop = release
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stop.set)
            except RuntimeError:
                pass
        if self._thread is not None:
            self._thread.join(timeout)

    # --- the thread -----------------------------------------------------------------------

    def _main(self) -> None:
        try:
            nsmod.setns_current_thread(self.netns)
        except OSError as err:
            self.error = err
            if self._root is not None:
                self._root.close()
                self._root = None
            self._ready.set()
            self._done.set()
            return
        try:
            asyncio.run(self._run())
        except BaseException as err:  # noqa: BLE001 - reported through wait_bound/error
            LOG.warning("%s: %r", self.name, err)
            self.error = err
        finally:
            if self._root is not None:
                self._root.close()
                self._root = None
            self._ready.set()
            self._done.set()

    async def _run(self) -> None:
        from pyroute2.dhcp import fsm
        from pyroute2.dhcp.client import AsyncDHCPClient, ClientConfig
        from pyroute2.dhcp.hooks import Trigger, hook
        from pyroute2.dhcp.leases import Lease

        session = self
        initial = self.initial

        class SessionLease(Lease):
            def dump(self) -> None:  # persisted by the session's owner via on_lease
                pass

            @classmethod
            def load(cls, interface: str) -> SessionLease | None:
                if not initial:
                    return None
                try:
                    data = dict(initial)
                    data["interface"] = interface
                    return cls(**data)
                except (TypeError, KeyError, ValueError):
                    return None

        @hook(Trigger.BOUND, Trigger.RENEWED, Trigger.REBOUND)
        async def bound(lease: Any) -> None:
            await session._configure(lease)

        @hook(Trigger.UNBOUND, Trigger.EXPIRED)
        async def unbound(lease: Any) -> None:
            await session._unconfigure(lease)

        config = ClientConfig(
            interface=self.ifname,
            lease_type=SessionLease,
            hooks=(bound, unbound),
            handle_signals=False,
            release=False,
            client_id=self.client_id,
            host_name=self.hostname,
            vendor_id="devbox",
            hook_timeout=10.0,
            retransmission=fast_backoff,
            timeouts={
                fsm.State.REBOOTING: 3,
                fsm.State.REQUESTING: 5,
                fsm.State.SELECTING: 60 * 15,
            },
        )
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with AsyncDHCPClient(config) as client:
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
        from pyroute2.iproute.linux import AsyncIPRoute

        info = _info(lease)
        old = self.current
        async with AsyncIPRoute() as ipr:
            idx = (await ipr.link_lookup(ifname=self.ifname))[0]
            if old is not None and (old.ip, old.prefixlen) != (info.ip, info.prefixlen):
                try:
                    await ipr.addr("del", index=idx, address=old.ip, prefixlen=old.prefixlen)
                except Exception as err:  # noqa: BLE001 - the old address may be gone
                    LOG.debug("%s: removing old address: %r", self.name, err)
            await ipr.addr("replace", index=idx, address=info.ip, prefixlen=info.prefixlen)
            if info.gateway:
                await ipr.route("replace", dst="0.0.0.0/0", gateway=info.gateway, oif=idx)
        if self._root is not None and info.dns:
            self._write_resolv(self._root, info)
        self._announce(info.ip)
        if self._loop is not None:  # and once more a second later, off the critical path
            self._loop.call_later(1.0, self._announce, info.ip)
        self.current = info
        if self.on_lease is not None:
            try:
                self.on_lease("bound" if old is None else "renewed", info)
            except Exception as err:  # noqa: BLE001 - never kill the client over bookkeeping
                LOG.error("%s: on_lease: %r", self.name, err)
        self._bound.set()

    def _announce(self, ip: str) -> None:
        from devbox.adapters.net import arp

        try:
            arp.announce(self.ifname, self.mac, ip, count=1)
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
        from pyroute2.iproute.linux import AsyncIPRoute

        info = self.current
        self.current = None
        if info is not None:
            try:
                async with AsyncIPRoute() as ipr:
                    found = await ipr.link_lookup(ifname=self.ifname)
                    if found:
                        await ipr.addr(
                            "del", index=found[0], address=info.ip, prefixlen=info.prefixlen
                        )
            except Exception as err:  # noqa: BLE001 - address may already be gone
                LOG.debug("%s: unconfigure: %r", self.name, err)
        if self.on_lease is not None:
            try:
                self.on_lease("unbound", None)
            except Exception as err:  # noqa: BLE001
                LOG.error("%s: on_lease: %r", self.name, err)
