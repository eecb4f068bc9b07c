"""What networking needs from Docker: container facts and the event stream (docker SDK)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from devbox.adapters.docker_engine import client, translate
from devbox.errors import UserError


@dataclass(frozen=True)
class ContainerFacts:
    name: str
    id: str
    running: bool
    pid: int
    hostname: str
    labels: dict[str, str] = field(default_factory=dict)
    restarting: bool = False


def _facts(attrs: dict[str, Any]) -> ContainerFacts:
    state = attrs.get("State") or {}
    config = attrs.get("Config") or {}
    return ContainerFacts(
        name=str(attrs.get("Name", "")).lstrip("/"),
        id=str(attrs.get("Id", "")),
        running=bool(state.get("Running")) and int(state.get("Pid") or 0) > 0,
        pid=int(state.get("Pid") or 0),
        hostname=str(config.get("Hostname") or ""),
        labels=dict(config.get("Labels") or {}),
        restarting=bool(state.get("Restarting")),
    )


def inspect(name: str) -> ContainerFacts | None:
    """Facts about container ``name`` (or id); None when there is no such container."""
    import docker

    with translate(f"inspect container {name}"):
        try:
            return _facts(client().api.inspect_container(name))
        except docker.errors.NotFound:
            return None


def require_running(name: str) -> ContainerFacts:
    facts = inspect(name)
    if facts is None:
        raise UserError(f"no container named {name}", hint="check the name with 'docker ps'")
    if not facts.running:
        raise UserError(f"container {name} is not running",
                        hint=f"start it first (docker start {name})")
    return facts


def all_containers() -> list[ContainerFacts]:
    with translate("list containers"):
        api = client().api
        out = []
        for summary in api.containers(all=True):
            try:
                out.append(_facts(api.inspect_container(summary["Id"])))
            except Exception:  # noqa: BLE001 - removed between list and inspect
                continue
        return out


def events(since: float | None = None) -> Iterator[dict[str, Any]]:
    """Container start/die/destroy events, decoded; ends when dockerd goes away."""
    import docker

    filters = {"type": "container", "event": ["start", "die", "destroy"]}
    cl = docker.from_env(timeout=None)
    stream = cl.api.events(decode=True, filters=filters,
                           since=int(since) if since else None)
    try:
        yield from stream
    finally:
        try:
            stream.close()
        except Exception:  # noqa: BLE001
            pass
        cl.close()
