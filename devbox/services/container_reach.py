"""How a client's own ssh reaches a container: the facts ``GET /containers/NAME`` gives, the
ones a clone's job hands back for each clone it made, and root's ssh command line."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from devbox.adapters.docker import containers as dc
from devbox.config import Config
from devbox.errors import NotReadyError, UserError
from devbox.model import container_plan, labels
from devbox.paths import Layout
from devbox.services import devbox_container
from devbox.services.host_reach import proxy_command
from devbox.state.container_records import DEV_USER, devbox_key, known_hosts, read_state


@dataclass
class Reach:
    """How a client's own ssh reaches a container: address, login user, host keys (as
    devbox recorded them, never learnt from the network) and a ProxyCommand when the host
    has no direct route."""

    name: str
    ip: str
    user: str
    host_keys: list[str]
    proxy_command: str | None
    identity_file: str  # devbox's key and known_hosts: what root's own entry uses
    known_hosts: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def reach_facts(cfg: Config, name: str, st: dc.ContainerState) -> Reach:
    """``name``'s facts as they are now: its address (the live lease over the record), the
    host keys devbox recorded for it, its login user."""
    ip = _address(cfg, name, st)
    keys: list[str] = []
    try:
        for line in known_hosts(Layout(cfg.root)).read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[0] == name:
                keys.append(f"{parts[1]} {parts[2]}")
    except FileNotFoundError:
        pass
    return reach_of(cfg, name, ip, st.labels.get(labels.USER, DEV_USER), keys)


def reach_of(cfg: Config, name: str, ip: str, user: str, host_keys: list[str]) -> Reach:
    """The facts of ``name`` from what its maker knows (a clone's job: the address it leased,
    the host keys it made and sshd proved): no engine, netns or file read but the route."""
    from devbox.services import host_reach

    layout = Layout(cfg.root)
    proxy = None if host_reach.reachable_directly(ip) else proxy_command(cfg, name)
    return Reach(
        name, ip, user, host_keys, proxy, str(devbox_key(layout)), str(known_hosts(layout))
    )


def _address(cfg: Config, name: str, st: dc.ContainerState) -> str:
    from devbox.services import network

    if not st.running:
        raise UserError(
            f"container '{name}' is not running",
            hint=f"start it: devbox dockeruser start-dev-container {name}",
        )
    ip = read_state(Layout(cfg.root), name).get("ip") or ""
    att = {a.container: a for a in network.show(cfg, name)}.get(name)
    if att is not None and att.ip:
        ip = att.ip
    if not ip:
        raise NotReadyError(
            f"container '{name}' has no LAN address yet",
            hint="is the devbox daemon running? devbox common daemon",
        )
    return str(ip)


def ssh_argv(cfg: Config, name: str, command: list[str]) -> list[str]:
    """The system ssh command line that reaches ``name`` with devbox's own key."""
    reach = reach_facts(cfg, name, devbox_container.require(name, cfg))
    return container_plan.ssh_argv(
        name,
        reach.ip,
        reach.user,
        reach.known_hosts,
        reach.proxy_command,
        identity=reach.identity_file,
        command=command,
    )
