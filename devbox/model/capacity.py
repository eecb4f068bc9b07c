"""How many more VM-style containers this host can boot: pure arithmetic, no I/O.

Every systemd-as-PID-1 container opens inotify instances (systemd itself, journald, logind,
dbus, ...), and the kernel caps them per user (``fs.inotify.max_user_instances``, 128 on a stock
Debian host). All root-run containers share root's allowance, so a stock host runs about 15-18
such containers; the next one's systemd fails to start and the container exits at once (status
255) with nothing in its log. devbox checks the room before it makes containers, and
``devbox common doctor`` says how to raise the limit.
"""

from __future__ import annotations

from dataclasses import dataclass

from devbox.errors import NotReadyError

# inotify instances root holds for one booted devbox dev container (measured on Debian 12)
INSTANCES_PER_CONTAINER = 7
SYSCTL = "fs.inotify.max_user_instances"
SUGGESTED_LIMIT = 1024
FIX = (
    f"sysctl -w {SYSCTL}={SUGGESTED_LIMIT}, and to keep it after a reboot: "
    f"echo {SYSCTL}={SUGGESTED_LIMIT} > /etc/sysctl.d/90-devbox.conf"
)


@dataclass(frozen=True)
class InotifyRoom:
    limit: int  # the per-user cap
    used: int  # instances root holds now

    @property
    def containers(self) -> int:
        """About how many more containers can boot."""
        return max(0, (self.limit - self.used) // INSTANCES_PER_CONTAINER)

    def describe(self) -> str:
        return (
            f"{SYSCTL}={self.limit}, {self.used} in use by root: room for about "
            f"{self.containers} more VM-style container(s)"
        )


def require_room(room: InotifyRoom, wanted: int, what: str) -> None:
    """Refuse (before anything is made, as "host not ready") to boot ``wanted`` containers the
    kernel would not let start."""
    if wanted > room.containers:
        raise NotReadyError(
            f"{what} needs {wanted} more systemd container(s) but this host has "
            f"room for about {room.containers} ({SYSCTL}={room.limit}, "
            f"{room.used} in use by root)",
            hint=FIX,
        )
