"""``GET /v1/host``: what a host has and has promised, for ``devbox common hosts list`` and
placement across hosts: memory and CPUs in all, free now, and promised as limits to this
root's containers (running ones, and all). Any member of group ``devbox`` may ask."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from devbox.api.operations import Request


def host_facts(req: Request) -> dict[str, Any]:
    from devbox.adapters.docker import containers as dc
    from devbox.adapters.host import meminfo, procfs
    from devbox.model import labels
    from devbox.model.container_plan import same_root
    from devbox.model.limits import MIN_MEMORY, from_labels, parse_memory

    size = procfs.host_size()
    reserve = req.cfg["limits.host_reserve"] or "2g"
    running = {"memory": 0, "cpus": 0.0, "containers": 0}
    every = {"memory": 0, "cpus": 0.0, "containers": 0}
    for st in dc.list_labeled(labels.ROLE, all_states=True):
        if not same_root(st.labels.get(labels.ROOT, ""), req.cfg.root):
            continue
        lim = from_labels(st.labels)
        for total in (every, running) if st.running else (every,):
            total["memory"] += lim.memory or 0
            total["cpus"] += lim.cpus or 0.0
            total["containers"] += 1
    return {
        "containers": {"running": running["containers"], "all": every["containers"]},
        "memory": {
            "total": size.memory,
            "free": meminfo.available(),
            # the most one container may get here (its size less limits.host_reserve)
            "largest": max(MIN_MEMORY, size.memory - parse_memory(reserve, "limits.host_reserve")),
        },
        "cpus": {"total": size.cpus},
        "promised": {
            "memory": running["memory"],
            "cpus": round(float(running["cpus"]), 3),
            "memory_all": every["memory"],
            "cpus_all": round(float(every["cpus"]), 3),
        },
    }
