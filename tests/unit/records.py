"""Records the unit tests build again and again."""

from __future__ import annotations

from devbox.model.leases import NicRecord


def nic_record(name: str, cid: str = "id1", pid: int = 10, state: str = "bound") -> NicRecord:
    """A DHCP NIC record of container ``name`` (lan0 on parent ``p``), in ``state``."""
    return NicRecord(
        container=name,
        container_id=cid,
        ifname="lan0",
        parent="p",
        mac="02:..",
        mode="dhcp",
        hostname=name,
        client_id=f"devbox:{name}",
        pid=pid,
        state=state,
    )
