"""A simulated lab host set up for this machine's private registry, the way an admin sets up a
real second host (README "Many hosts"), so a make there pulls an image it lacks:

- its engine trusts devbox's CA for the registry (``/etc/docker/certs.d/ADDR/ca.crt``);
- its devbox settings name the registry (``registry.address``, ``registry.tls``): root's
  ``~/.config/devbox/config.toml`` there, read by every job of its service;
- its engine logs in with this machine's registry login (root's ``~/.docker/config.json``
  there, 0600; the password never reaches an argv, a log or an environment).

The host's HOME is its own folder (:attr:`SimHost.home`). The engine's trust is the one part a
simulated host shares with this machine: dockerd 20.10 reads ``/etc/docker/certs.d`` and no
other place (only a rootless dockerd reads another), and a simulated host shares this machine's
files. So the CA goes there only when this machine's engine does not trust it yet, and goes
again with the host.

Run by ``lab up --hosts N`` (again after ``registryserver up`` or ``user add``: it converges).
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
from pathlib import Path
from typing import Any, Protocol

from devbox import jsonfile
from devbox.config import Config
from devbox.errors import UserError
from devbox.model import lab_hosts_plan as hp
from devbox.model import registry_plan
from devbox.model.lab_plan import LabPlan
from devbox.oplog import register_secret
from devbox.services import registry_site
from devbox.steps import StepContext

CA_RECORD = "registry_ca"  # host.json: the certs.d entry this host's set-up put there


class HostSetUp(Protocol):
    """What the step needs of ``lab_hosts.HostJob``."""

    cfg: Config
    lab: LabPlan
    host: hp.SimHost


def admin_config(host: hp.SimHost) -> Path:
    return host.home / ".config" / "devbox" / "config.toml"


def docker_config(host: hp.SimHost) -> Path:
    return host.home / ".docker" / "config.json"


def config_text(address: str, tls: bool) -> str:
    """The host's devbox settings for the registry (``address`` checked: HOST:PORT only)."""
    registry_plan.parse_address(address)
    return (
        "# written by 'devbox common lab up --hosts': this machine's private registry\n"
        f'[registry]\naddress = "{address}"\ntls = {"true" if tls else "false"}\n'
    )


def login_json(address: str, login: dict[str, str] | None) -> str:
    """A docker ``config.json`` holding ``login`` for ``address`` (none: no entries)."""
    auths: dict[str, Any] = {}
    if login:
        token = f"{login['username']}:{login['password']}".encode()
        auths[address] = {"auth": base64.b64encode(token).decode()}
    return json.dumps({"auths": auths}, indent=2) + "\n"


def on_lab(lab: LabPlan, address: str) -> bool:
    """Whether the registry's host part is an address of the lab LAN (a host there reaches
    it; a name or another network it does not)."""
    host = registry_plan.parse_address(address).host
    try:
        return ipaddress.ip_address(host) in ipaddress.ip_network(lab.subnet)
    except ValueError:
        return False


def _ca_bytes(cfg: Config, address: str) -> bytes | None:
    """devbox's CA when this machine serves the registry, else the one its engine trusts."""
    for path in (
        registry_site.server_paths(cfg).pki / "ca.crt",
        registry_site.engine_ca_file(address),
    ):
        try:
            return path.read_bytes()
        except OSError:
            continue
    return None


def _login(address: str) -> dict[str, str] | None:
    from devbox.adapters.docker import engine

    found = engine.stored_auth(f"{address}/devbox/dev")
    if found:
        register_secret(found["password"])
    return found


def _trust_ca(host: hp.SimHost, address: str, ca: bytes, ctx: StepContext) -> None:
    target = registry_site.engine_ca_file(address)
    try:
        if target.read_bytes() == ca:
            ctx.info(f"{target}: trusted already (a simulated host shares this machine's)")
            return
    except FileNotFoundError:
        pass
    existed = target.parent.exists()
    target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    jsonfile.write_text(target, ca.decode(), mode=0o644)
    if not existed:
        jsonfile.update_json(host.record, lambda cur: {**cur, CA_RECORD: address}, mode=0o600)
    ctx.info(f"installed devbox's CA for {address} in {target}")


def remove_trust(record: dict[str, Any]) -> str | None:
    """Take out the certs.d entry a host's set-up made (``lab down``); its address or None."""
    address = record.get(CA_RECORD)
    if not isinstance(address, str) or not address:
        return None
    try:
        registry_plan.parse_address(address)
    except UserError:
        return None
    target = registry_site.engine_ca_file(address)
    target.unlink(missing_ok=True)
    if target.parent.is_dir() and not any(target.parent.iterdir()):
        target.parent.rmdir()
    return address


def set_up(cfg: Config, lab: LabPlan, host: hp.SimHost, ctx: StepContext) -> None:
    """The host's HOME, and in it this machine's registry: its address, CA and login."""
    for folder in (host.home, host.home / ".config", host.home / ".docker"):
        folder.mkdir(mode=0o700, exist_ok=True)
        os.chmod(folder, 0o700)
    address = registry_site.registry_address(cfg)
    if not address:
        ctx.skip("no private registry here (run 'devbox registryserver up', then lab up again)")
    if not on_lab(lab, address):
        ctx.skip(
            f"registry {address} is not on the lab LAN: set registry.address to "
            f"{lab.shim_address}:PORT (this machine's lab address) for the hosts to reach it"
        )
    tls = cfg.flag("registry.tls")
    (host.home / ".config" / "devbox").mkdir(mode=0o700, exist_ok=True)
    jsonfile.write_text(admin_config(host), config_text(address, tls), mode=0o600)
    notes = [f"registry.address = {address}"]
    if tls:
        ca = _ca_bytes(cfg, address)
        if ca is None:
            notes.append("no CA yet")
        else:
            _trust_ca(host, address, ca, ctx)
            notes.append("CA trusted")
    login = _login(address)
    jsonfile.write_text(docker_config(host), login_json(address, login), mode=0o600)
    notes.append(f"logged in as {login['username']}" if login else "no login")
    ctx.note = ", ".join(notes)


def step(job: HostSetUp, ctx: StepContext) -> None:
    """The ``lab up --hosts`` step: :func:`set_up` for one host."""
    set_up(job.cfg, job.lab, job.host, ctx)
