"""Operations for admins only (root or group ``devbox-admin``): host checks, container LAN
interfaces, image builds and publication, the registry. Each refuses anyone else first
(exit 2 naming the admin group), then makes one service call."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from devbox.api.user_operations import integer
from devbox.errors import UserError
from devbox.model import owners

if TYPE_CHECKING:
    from devbox.api.operations import Request


def _admin(req: Request, what: str) -> None:
    owners.require_admin(req.caller, what)


def _name(req: Request, what: str) -> str:
    name = req.text("name")
    if not name:
        raise UserError(f"which {what}?")
    return name


# ---- common doctor -------------------------------------------------------------------------
def doctor(req: Request) -> dict[str, Any]:
    from devbox.services.doctor import run_checks

    _admin(req, "common doctor")
    checks = run_checks(req.cfg)
    failed = [c for c in checks if c.needed and not c.ok]
    return {"ok": not failed, "checks": [c.to_dict() for c in checks]}


# ---- common lab ----------------------------------------------------------------------------
def _lab_view(req: Request) -> dict[str, Any]:
    from devbox.services import lab, lab_hosts

    st, sims = lab.status(req.cfg), lab_hosts.status(req.cfg)
    return {**st.to_dict(), "hosts": [h.to_dict() for h in sims]}


def lab_status(req: Request) -> dict[str, Any]:
    _admin(req, "common lab status")
    return _lab_view(req)


def lab_up(req: Request) -> dict[str, Any]:
    _admin(req, "common lab up")
    with _lab_lock(req):
        return _lab_up(req)


def _lab_lock(req: Request) -> AbstractContextManager[None]:
    """One lab up or down at a time (a second fails at once, naming the first's pid)."""
    from devbox import locks
    from devbox.paths import Layout

    return locks.exclusive(Layout(req.cfg.root).locks, "lab", "lab", "changing the lab LAN")


def _lab_up(req: Request) -> dict[str, Any]:
    from devbox.services import lab, lab_hosts

    hosts = integer(req, "hosts")
    vlans = req.body.get("vlans") or []
    if not isinstance(vlans, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in vlans
    ):
        raise UserError("vlans must be a list of VLAN IDs (integers)")
    sims_wanted = lab_hosts.check(req.cfg, hosts)  # a bad --hosts fails before anything is made
    lab.up(req.cfg, vlans=tuple(vlans), reporter=req.reporter("lab up"))
    if sims_wanted or lab_hosts.existing(req.cfg):
        lab_hosts.up(req.cfg, hosts, reporter=req.reporter("lab hosts"))
    return _lab_view(req)


def lab_down(req: Request) -> dict[str, Any]:
    from devbox.services import lab, lab_hosts

    _admin(req, "common lab down")
    with _lab_lock(req):
        removed = lab_hosts.down(req.cfg)
        removed += lab.down(req.cfg)
    return {"removed": removed}


# ---- common net ----------------------------------------------------------------------------
def _attachment(att: Any) -> dict[str, Any]:
    return {**att.to_dict(), "cidr": att.cidr}


def net_show(req: Request) -> list[dict[str, Any]]:
    from devbox.services import network

    _admin(req, "common net show")
    return [_attachment(a) for a in network.show(req.cfg, req.text("container") or None)]


def net_attach(req: Request, name: str) -> dict[str, Any]:
    from devbox.services import network

    _admin(req, "common net attach")
    dhcp = req.flag("dhcp")
    att = network.attach(
        req.cfg,
        name,
        reporter=req.reporter(f"net attach {name}"),
        parent=req.text("parent"),
        vlan=integer(req, "vlan"),
        ifname=req.text("ifname"),
        mac=req.text("mac"),
        ip=req.text("ip"),
        gateway=req.text("gateway"),
        dhcp=dhcp or None,
        mtu=integer(req, "mtu"),
    )
    return _attachment(att)


def net_detach(req: Request, name: str) -> list[dict[str, Any]]:
    from devbox.services import network

    _admin(req, "common net detach")
    return [_attachment(a) for a in network.detach(req.cfg, name, ifname=req.text("ifname"))]


# ---- containerauthor -----------------------------------------------------------------------
def build_base(req: Request) -> dict[str, Any]:
    from devbox.services import bases

    _admin(req, "containerauthor build-base")
    distro = _name(req, "base")
    result = bases.build_base(
        req.cfg, distro, force=req.flag("force"), reporter=req.reporter(f"build-base {distro}")
    )
    return result.to_dict()


def build_image(req: Request) -> dict[str, Any]:
    from devbox.services import images

    _admin(req, "containerauthor build-image")
    name = _name(req, "image")
    result = images.build_image(
        req.cfg,
        name,
        force=req.flag("force"),
        nocache=req.flag("no_cache"),
        reporter=req.reporter(f"build-image {name}"),
    )
    return result.to_dict()


def publish(req: Request, name: str) -> dict[str, Any]:
    from devbox.services import images

    _admin(req, "containerauthor publish")
    return images.publish(req.cfg, name, reporter=req.reporter(f"publish {name}")).to_dict()


# ---- registryserver ------------------------------------------------------------------------
def registry_status(req: Request) -> dict[str, Any]:
    from devbox.services import registry_server

    _admin(req, "registryserver status")
    return registry_server.status(req.cfg).to_dict()


def registry_up(req: Request) -> dict[str, Any]:
    from devbox.services import registry_server

    _admin(req, "registryserver up")
    cfg = req.cfg.with_overrides(
        {
            "registry.image": req.text("image"),
            "registry.port": integer(req, "port"),
            "registry.storage": req.text("storage"),
        }
    )
    return registry_server.up(cfg, reporter=req.reporter("registryserver up")).to_dict()


def registry_down(req: Request) -> dict[str, Any]:
    from devbox.services import registry_server

    _admin(req, "registryserver down")
    removed = registry_server.down(req.cfg)
    if req.flag("remove_ca"):
        registry_server.remove_engine_ca(req.cfg)
    return {
        "removed": removed,
        "name": str(req.cfg["registry.name"]),
        "storage": str(req.cfg["registry.storage"]),
    }


def registry_gc(req: Request) -> dict[str, Any]:
    from devbox.services import registry_gc as gc_service

    _admin(req, "registryserver gc")
    return gc_service.gc(req.cfg, reporter=req.reporter("registryserver gc")).to_dict()


def registry_user_add(req: Request) -> dict[str, Any]:
    """The password comes in the body (the client read it from stdin or the terminal); the
    audit log hides it (``audit_log.SECRET_FIELDS``), the job's log masks it."""
    from devbox.oplog import register_secret
    from devbox.services import registry_users

    _admin(req, "registryserver user add")
    user = _name(req, "user")
    password = req.text("password")
    if not password:
        raise UserError(
            "no password given",
            hint="echo the password into the command, or run it on a terminal to be asked",
        )
    register_secret(password)
    return registry_users.user_add(req.cfg, user, password, login=not req.flag("no_login"))


def registry_user_remove(req: Request, name: str) -> dict[str, Any]:
    from devbox.services import registry_users

    _admin(req, "registryserver user remove")
    return registry_users.user_remove(req.cfg, name)
