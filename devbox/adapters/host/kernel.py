"""What the running kernel offers (built in or as a module)."""

from __future__ import annotations

import os
from pathlib import Path


def kernel_has(feature: str) -> bool:
    """Whether the running kernel has ``feature`` (a CONFIG_ name without prefix), built in or
    as a loadable module."""
    module = {
        "MACVLAN": "macvlan",
        "OVERLAY_FS": "overlay",
        "VLAN_8021Q": "8021q",
        "VETH": "veth",
    }.get(feature, feature.lower())
    if Path(f"/sys/module/{module}").exists():
        return True
    if feature == "OVERLAY_FS" and "overlay" in Path("/proc/filesystems").read_text():
        return True
    release = os.uname().release
    for name in ("modules.builtin", "modules.dep"):
        path = Path(f"/lib/modules/{release}/{name}")
        if path.exists() and f"/{module}.ko" in path.read_text():
            return True
    config_gz = Path("/proc/config.gz")
    if config_gz.exists():
        import gzip

        text = gzip.decompress(config_gz.read_bytes()).decode(errors="replace")
        return f"CONFIG_{feature}=y" in text or f"CONFIG_{feature}=m" in text
    boot = Path(f"/boot/config-{release}")
    if boot.exists():
        text = boot.read_text(errors="replace")
        return f"CONFIG_{feature}=y" in text or f"CONFIG_{feature}=m" in text
    return False
