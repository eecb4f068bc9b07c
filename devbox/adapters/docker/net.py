"""What networking needs from Docker: container facts and the event stream (docker SDK)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from devbox.adapters.docker import containers
from devbox.adapters.docker.containers import ContainerState, state_of
from devbox.adapters.docker.engine import client, translate
from devbox.errors import UserError

# One container-state shape for all of devbox (docker_containers owns it).
ContainerFacts = ContainerState
inspect = containers.inspect


def require_running(name: str) -> ContainerFacts:
    facts = inspect(name)
    if facts is None:
        raise UserError(f"no container named {name}", hint="check the name with 'docker ps'")
    if not facts.running:
        raise UserError(
            f"container {name} is not running", hint=f"start it first (docker start {name})"
        )
    return facts


def all_containers() -> list[ContainerFacts]:
    """Every container, complete or not at all: only one removed between the list and its
    inspect is left out. Any other error raises (dockerd going away answers the list on an
    open connection, then refuses the inspects: a partial list would read as containers
    removed, and the daemon would drop their leases)."""
    import docker

    with translate("list containers"):
        api = client().api
        out = []
        for summary in api.containers(all=True):
            try:
                out.append(state_of(api.inspect_container(summary["Id"])))
            except docker.errors.NotFound:  # removed between list and inspect
                continue
        return out


def events(since: float | None = None) -> Iterator[dict[str, Any]]:
    """Container start/die/destroy events, decoded; ends when dockerd goes away. Connects now
    (not at the first iteration), so a caller knows it is watching once this returns."""
    import docker

    filters = {"type": "container", "event": ["start", "die", "destroy"]}
    cl = docker.from_env(timeout=None)
    try:
        stream = cl.api.events(decode=True, filters=filters, since=int(since) if since else None)
    except BaseException:
        cl.close()
        raise

    def iterate() -> Iterator[dict[str, Any]]:
        try:
            yield from stream
        finally:
            try:
                stream.close()
            except Exception:  # noqa: BLE001
                pass
            cl.close()

    return iterate()
