"""ARP on a raw packet socket: gratuitous announcements and address-in-use probes (RFC 5227).

Call these from a thread inside the interface's network namespace (the socket is created in
the calling thread's namespace).
"""

from __future__ import annotations

import select
import socket
import struct
import time

ETH_P_ARP = 0x0806
BROADCAST = b"\xff" * 6


def _mac_bytes(mac: str) -> bytes:
    return bytes(int(x, 16) for x in mac.split(":"))


def _frame(
    src_mac: str, oper: int, sender_ip: str, target_ip: str, target_mac: bytes = b"\x00" * 6
) -> bytes:
    sha = _mac_bytes(src_mac)
    eth = BROADCAST + sha + struct.pack("!H", ETH_P_ARP)
    arp = (
        struct.pack("!HHBBH", 1, 0x0800, 6, 4, oper)
        + sha
        + socket.inet_aton(sender_ip)
        + target_mac
        + socket.inet_aton(target_ip)
    )
    return eth + arp


def _open(ifname: str) -> socket.socket:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
    try:
        sock.bind((ifname, ETH_P_ARP))
    except OSError:
        sock.close()
        raise
    return sock


def announcement(mac: str, ip: str) -> list[bytes]:
    """The frames of one gratuitous ARP for ``ip`` (for any raw packet socket bound to the
    interface): the request form (most widely honoured), then the reply form."""
    return [_frame(mac, 1, ip, ip), _frame(mac, 2, ip, ip, BROADCAST)]


def announce(ifname: str, mac: str, ip: str, count: int = 2) -> None:
    """Gratuitous ARP for ``ip``: LAN peers replace stale entries for it."""
    with _open(ifname) as sock:
        for i in range(count):
            for frame in announcement(mac, ip):
                sock.send(frame)
            if i + 1 < count:
                time.sleep(0.02)


def probe(ifname: str, mac: str, ip: str, timeout: float = 1.0, probes: int = 3) -> str | None:
    """ARP-probe ``ip`` (sender 0.0.0.0); the MAC of whoever answers for it, else None."""
    target = socket.inet_aton(ip)
    own = _mac_bytes(mac)
    with _open(ifname) as sock:
        deadline = time.monotonic() + timeout
        interval = timeout / max(probes, 1)
        next_send = 0.0
        while True:
            now = time.monotonic()
            if now >= deadline:
                return None
            if now >= next_send and probes > 0:
                sock.send(_frame(mac, 1, "0.0.0.0", ip))
                probes -= 1
                next_send = now + interval
            wait = max(0.0, min(deadline, next_send if probes else deadline) - now)
            ready, _, _ = select.select([sock], [], [], wait)
            if not ready:
                continue
            pkt = sock.recv(128)
            if len(pkt) < 42 or pkt[12:14] != b"\x08\x06":
                continue
            oper = struct.unpack("!H", pkt[20:22])[0]
            sha, spa, tpa = pkt[22:28], pkt[28:32], pkt[38:42]
            if sha == own:
                continue
            # someone answering for ip, or another prober wanting the same ip (RFC 5227 2.1.1)
            if spa == target or (oper == 1 and spa == b"\x00" * 4 and tpa == target):
                return ":".join(f"{b:02x}" for b in sha)
