"""pyroute2's DHCP client with every socket made in the right network namespace.

pyroute2 creates its sockets in the calling thread's namespace: the raw DHCP socket and a
netlink socket for the link lookup in ``AsyncRawSocket.__aenter__``, and another netlink socket
for the task that watches the interface's MAC (``_watch_l2addr_changes``). On the one DHCP loop
of the process (:mod:`devbox.adapters.net.dhcp_loop`) that thread is the host's, so here:

- :class:`NetnsDHCP4Socket`: ``__aenter__`` creates and binds the raw socket inside the
  container's namespace (:meth:`DhcpLoop.inside`), finds the interface index there with
  ``if_nametoindex`` (no netlink at all), and takes the MAC the client sends from, the one of
  devbox's record. There is no MAC watcher: that MAC is the lease's identity (client id and
  chaddr), and a tenant who changes its interface's MAC does not change whose lease it is.
  Its BPF filter also drops replies to other clients (:func:`listen_for`).
- :class:`NetnsDHCPClient`: pyroute2's ``AsyncDHCPClient`` with that socket.
- :func:`iproute`: an ``AsyncIPRoute`` whose netlink socket was made inside the namespace
  (pyroute2 makes it lazily, on first use of ``.socket``: done here, in the window).

What a session keeps for as long as it holds its lease is small (issue 17: the service holds
every lease of the host): the BPF program is not kept once the kernel has its copy, and a
received message (the lease's ACK is kept) shares its class's option maps
(:class:`SharedMapsDhcp4msg`: pyroute2 builds two dicts of every DHCP option, ~12 KB, for
each message it decodes).
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any, ClassVar

from pyroute2.dhcp.client import AsyncDHCPClient, ClientConfig
from pyroute2.dhcp.dhcp4msg import dhcp4msg
from pyroute2.dhcp.dhcp4socket import SKF_AD_OFF, SKF_AD_VLAN_TAG_PRESENT, AsyncDHCP4Socket
from pyroute2.dhcp.messages import ReceivedDHCPMessage
from pyroute2.ext import bpf as pr_bpf
from pyroute2.ext.bpf import BPF
from pyroute2.ext.rawsocket import ETH_P_IP, SO_ATTACH_FILTER
from pyroute2.iproute.linux import AsyncIPRoute
from pyroute2.protocols import ethmsg, ip4msg, udpmsg

from devbox.adapters.net.dhcp_loop import DhcpLoop


def listen_for(mac: str, port: int = 68) -> list[list[int]]:
    """A BPF filter: IPv4 UDP to ``port``, not fragmented, no VLAN tag (pyroute2's
    ``listen_udp_port``) *and* a BOOTP ``chaddr`` of ``mac``.

    pyroute2 asks for broadcast replies, and macvlans in bridge mode each get every broadcast:
    without the ``chaddr`` test every client decodes every other client's OFFER and ACK (20
    clients at once: 20 x 20 decodes on one loop), with it the kernel drops them.
    """
    raw = bytes(int(b, 16) for b in mac.split(":"))
    high, low = int.from_bytes(raw[:4], "big"), int.from_bytes(raw[4:], "big")
    ld, ldx, jmp, ret = BPF.LD, BPF.LDX, BPF.JMP + BPF.JEQ + BPF.K, BPF.RET + BPF.K
    # chaddr: 28 bytes into BOOTP, after 14 of Ethernet, X of IPv4 and 8 of UDP
    body = [
        [ld + BPF.B + BPF.ABS, 0, 0, SKF_AD_OFF + SKF_AD_VLAN_TAG_PRESENT],
        [jmp, 0, -1, 0],
        [ld + BPF.H + BPF.ABS, 0, 0, 12],
        [jmp, 0, -1, 0x0800],
        [ld + BPF.B + BPF.ABS, 0, 0, 23],
        [jmp, 0, -1, socket.IPPROTO_UDP],
        [ld + BPF.H + BPF.ABS, 0, 0, 20],
        [BPF.JMP + BPF.JSET + BPF.K, -1, 0, 8191],
        [ldx + BPF.B + BPF.MSH, 0, 0, 14],
        [ld + BPF.H + BPF.IND, 0, 0, 16],
        [jmp, 0, -1, port],
        [ld + BPF.W + BPF.IND, 0, 0, 14 + 8 + 28],
        [jmp, 0, -1, high],
        [ld + BPF.H + BPF.IND, 0, 0, 14 + 8 + 28 + 4],
        [jmp, 0, -1, low],
        [ret, 0, 0, 65535],
    ]
    drop = len(body)  # -1 above: jump to the drop at the end
    for index, line in enumerate(body):
        line[1:3] = [drop - index - 1 if off == -1 else off for off in line[1:3]]
    return [*body, [ret, 0, 0, 0]]


class SharedMapsDhcp4msg(dhcp4msg):
    """pyroute2's DHCPv4 message with its option maps built once for the class (pyroute2
    builds them for every message, and they never change: they are the class's options)."""

    _maps: ClassVar[tuple[dict[int, Any], dict[str, Any]] | None] = None

    def _register_options(self) -> None:
        cls = type(self)
        if cls._maps is None:
            super()._register_options()
            cls._maps = (self.__dict__["_decode_map"], self.__dict__["_encode_map"])
        self._decode_map, self._encode_map = cls._maps


class NetnsDHCP4Socket(AsyncDHCP4Socket):
    """pyroute2's DHCP socket, opened inside the namespace ``netns`` (an open fd of it)."""

    def __init__(self, ifname: str, dloop: DhcpLoop, netns: int, mac: str) -> None:
        super().__init__(ifname)
        self._dloop = dloop
        self._netns = netns
        self.l2addr = mac.lower()
        self.bpf = listen_for(self.l2addr)

    async def __aenter__(self) -> NetnsDHCP4Socket:
        # protocol 0 first: the socket takes no packet until bind, so the filter is on before
        # the first one (no buffer to clear) and bind registers the one packet hook without
        # first removing another (that waits for an RCU grace period: ~10 ms a socket)
        with self._dloop.inside(self._netns):
            try:
                self.ifindex = socket.if_nametoindex(self.ifname)
            except OSError as err:
                raise OSError(2, f"Link not found: {self.ifname}") from err
            socket.socket.__init__(self, socket.AF_PACKET, socket.SOCK_RAW, 0)
            try:
                socket.socket.setblocking(self, False)
                # the kernel copies the program: neither it nor its source is kept after
                fstring, program = pr_bpf.compile(self.bpf)
                socket.socket.setsockopt(self, socket.SOL_SOCKET, SO_ATTACH_FILTER, fstring)
                del program
                self.bpf = []  # the program's source: not kept either
                socket.socket.bind(self, (self.ifname, ETH_P_IP))
            except BaseException:
                self.close()
                raise
        # __aexit__ cancels the watcher: a future that is never done stands in for it
        self._l2addr_watcher = asyncio.get_running_loop().create_future()  # type: ignore[assignment]
        return self

    @classmethod
    def _decode_msg(cls, data: bytes) -> ReceivedDHCPMessage:
        """pyroute2's decoding (``AsyncDHCP4Socket._decode_msg``) with
        :class:`SharedMapsDhcp4msg` for the DHCP part."""
        eth = ethmsg(buf=data).decode()
        ip4 = ip4msg(buf=data, offset=eth.offset).decode()
        udp = udpmsg(buf=data, offset=ip4.offset).decode()
        dhcp = SharedMapsDhcp4msg(buf=data, offset=udp.offset).decode()
        return ReceivedDHCPMessage(
            dhcp=dhcp,
            eth_src=eth["src"],
            eth_dst=eth["dst"],
            ip_src=ip4["src"],
            ip_dst=ip4["dst"],
            sport=udp["sport"],
            dport=udp["dport"],
        )

    async def __aexit__(self, *_: Any) -> None:
        if self._l2addr_watcher is not None:
            self._l2addr_watcher.cancel()
        if self.fileno() >= 0:
            # closing a packet socket waits for an RCU grace period: not on the loop
            self._dloop.close_later(self.detach())


class _Unwatched:
    """What :class:`WatchedStates` hands out for a state nobody waits for: setting and
    clearing it keeps nothing."""

    __slots__ = ()

    def set(self) -> None:
        pass

    def clear(self) -> None:
        pass


UNWATCHED = _Unwatched()


class WatchedStates(dict[Any, Any]):
    """Stands in for pyroute2's per-client ``defaultdict(asyncio.Event)``, an Event for every
    state the client has been in (an Event, its deque and dict: ~1 KB each, six a client,
    kept as long as it holds its lease), though only the states ``wait_for_state`` waits for
    need one (pyroute2's own tasks wait for OFF). An Event is made when a wait asks for it
    (set if the client is in that state now); the others are :data:`UNWATCHED`."""

    def __missing__(self, key: Any) -> _Unwatched:
        return UNWATCHED

    def watch(self, state: Any, now: Any) -> None:
        if state not in self:
            event = self[state] = asyncio.Event()
            if state == now:
                event.set()


class NetnsDHCPClient(AsyncDHCPClient):
    """pyroute2's client with :class:`NetnsDHCP4Socket`, with an Event only for the states
    something waits for (:class:`WatchedStates`)."""

    def __init__(self, config: ClientConfig, dloop: DhcpLoop, netns: int, mac: str) -> None:
        super().__init__(config)
        self._sock = NetnsDHCP4Socket(config.interface, dloop, netns, mac)
        self._states = WatchedStates()  # type: ignore[assignment]

    async def wait_for_state(self, state: Any, timeout: float | None = None) -> None:
        self._states.watch(state, self.state)  # type: ignore[attr-defined]
        await super().wait_for_state(state, timeout)


def iproute(dloop: DhcpLoop, netns: int) -> Any:
    """An ``AsyncIPRoute`` of the namespace ``netns`` (an open fd; use it in ``async with``)."""
    ipr = AsyncIPRoute()
    with dloop.inside(netns):
        ipr.socket  # noqa: B018 - pyroute2 makes its socket on first use: here, inside
    return ipr
