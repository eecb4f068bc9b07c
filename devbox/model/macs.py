"""MAC addresses: derive a stable one from a container name; validate user-given ones (pure)."""

from __future__ import annotations

import hashlib
import re

from devbox.errors import UserError

_MAC = re.compile(r"^[0-9a-f]{2}([:-]?)[0-9a-f]{2}(\1[0-9a-f]{2}){4}$")


def derive_mac(name: str, salt: str = "") -> str:
    """A stable MAC for ``name``: locally administered, unicast, same name -> same MAC.

    The same MAC (and client id) makes the DHCP server hand the same address back after a
    restart, a re-plumb or a host reboot.
    """
    digest = hashlib.sha256(f"devbox-mac:{salt}:{name}".encode()).digest()
    first = (digest[0] & 0xFC) | 0x02  # locally administered (bit 1), unicast (bit 0 clear)
    octets = [first, *digest[1:6]]
    return ":".join(f"{b:02x}" for b in octets)


def mac_for_name(name: str) -> str:
    """Alias of :func:`derive_mac` (the MAC a container named ``name`` gets by default)."""
    return derive_mac(name)


def parse_mac(text: str) -> str:
    """Normalize a user-given MAC to ``aa:bb:cc:dd:ee:ff``; reject bad and multicast ones."""
    raw = text.strip().lower()
    if not _MAC.fullmatch(raw):
        raise UserError(
            f"'{text}' is not a MAC address",
            hint="use six hex pairs like 02:42:ac:11:00:02, or leave --mac out "
            "to derive one from the container name",
        )
    hexdigits = raw.replace(":", "").replace("-", "")
    octets = [int(hexdigits[i : i + 2], 16) for i in range(0, 12, 2)]
    if octets[0] & 0x01:
        raise UserError(
            f"MAC {text} is a multicast address; an interface needs a unicast one",
            hint="clear the lowest bit of the first octet (e.g. 02:...)",
        )
    if not any(octets):
        raise UserError(f"MAC {text} is all zeros", hint="use a real unicast MAC")
    return ":".join(f"{b:02x}" for b in octets)


def is_locally_administered(mac: str) -> bool:
    return bool(int(mac.split(":", maxsplit=1)[0], 16) & 0x02)


def client_id(name: str) -> bytes:
    """The stable DHCP client identifier (option 61, type 0) sent for container ``name``."""
    return f"devbox:{name}".encode()
