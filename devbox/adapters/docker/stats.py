"""The engine's one-shot stats of a container (``docker stats --no-stream`` of one)."""

from __future__ import annotations

from typing import Any

from devbox.adapters.docker.engine import client, translate


def one_shot(container_id: str) -> dict[str, Any] | None:
    """``GET /containers/ID/stats?stream=0``: the engine samples the container's cgroups
    twice about a second apart (``cpu_stats`` and ``precpu_stats``); None when the container
    is gone. The numbers are the kernel's counters of the container's cgroups."""
    import docker

    with translate(f"stats of container {container_id[:12]}"):
        try:
            raw = client().api.stats(container_id, stream=False)
        except docker.errors.NotFound:
            return None
    return raw if isinstance(raw, dict) else None
