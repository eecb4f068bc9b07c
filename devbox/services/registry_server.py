"""The private registry: run it (TLS + htpasswd), manage its users, report on it, collect its
garbage.

Host files: ``<root>/registry/`` (config.yml, auth/htpasswd 0600 in a 0700 dir, admin.secret,
server.json), ``<root>/pki/registry/`` (the CA; the server's certificate and key in ``server/``,
the only part of the PKI the registry container gets: never the CA key), blobs under
``registry.storage``
(default /opt/registry, kept across down/up), and the CA for the engine in
``/etc/docker/certs.d/HOST:PORT/ca.crt``.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from devbox.adapters.docker import containers as dc
from devbox.config import Config
from devbox.errors import OperationFailed, UserError
from devbox.model import registry_plan as plan
from devbox.oplog import OpLog
from devbox.paths import Layout
from devbox.resources import role_dir
from devbox.services.registry_site import (
    DEVBOX_REGISTRY_IMAGE,
    _admin_password,
    _cert_names,
    _du,
    _endpoint,
    _image,
    _server_certs,
    _test_label,
    _volumes,
    _wait_ready,
    engine_ca_file,
    registry_address,
    serve_address,
    server_paths,
)
from devbox.services.registry_users import _htpasswd_text, _private_auth_dir, _write_htpasswd
from devbox.steps import Reporter, Step, StepContext, run_steps

CONFIG_LABEL = "devbox.registry.config"


def _config_text(cfg: Config, readonly: bool = False) -> str:
    from devbox.adapters import templates

    return templates.render(
        "registry-config.yml.j2",
        plan.config_context(tls=bool(cfg["registry.tls"]), readonly=readonly),
    )


@dataclass
class UpResult:
    address: str
    name: str
    image: str
    tls: bool
    storage: str
    ca: str
    recreated: bool
    seconds: float = 0.0
    steps: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def up(cfg: Config, reporter: Reporter | None = None, log: OpLog | None = None) -> UpResult:
    """Start (or keep running) the registry server; idempotent."""
    from devbox.adapters import pki
    from devbox.adapters.docker import engine

    paths = server_paths(cfg)
    address = serve_address(cfg)
    name = str(cfg["registry.name"])
    storage = Path(cfg["registry.storage"])
    tls = bool(cfg["registry.tls"])
    image, binary = _image(cfg)
    own_log = log is None
    oplog = log or OpLog(Layout(cfg.root).host_log)
    out = UpResult(
        str(address),
        name,
        image,
        tls,
        str(storage),
        str(engine_ca_file(str(address))) if tls else "",
        False,
    )
    t0 = time.monotonic()

    def registry_image(ctx: StepContext) -> None:
        if engine.image_attrs(image) is not None and image != DEVBOX_REGISTRY_IMAGE:
            ctx.skip(f"{image} present")
        if image != DEVBOX_REGISTRY_IMAGE:
            raise UserError(
                f"registry image {image} is not here",
                hint="load it (docker load) or unset registry.image to build "
                "devbox/registry from the Debian base",
            )
        from devbox.services import images

        ctx.progress(0, None, "building devbox/registry (Debian docker-registry)")
        built = images.build_image(
            cfg,
            "registry",
            definitions=role_dir("registryserver") / "images",
            tag_registry=False,
            log=oplog,
        )
        ctx.note = "up to date" if built.skipped else f"built in {built.seconds:.1f}s"

    def files(ctx: StepContext) -> None:
        storage.mkdir(parents=True, exist_ok=True)
        paths.dir.mkdir(parents=True, exist_ok=True)
        paths.config.write_text(_config_text(cfg))
        _private_auth_dir(paths)  # an older devbox wrote htpasswd 0644
        text = _htpasswd_text(paths)
        users = plan.parse_htpasswd(text)
        admin = _admin_password(paths)
        if plan.ADMIN_USER not in users or not plan.check_password(admin, users[plan.ADMIN_USER]):
            _write_htpasswd(paths, plan.with_user(text, plan.ADMIN_USER, plan.hash_password(admin)))
        ctx.info(f"config {paths.config}, storage {storage}")

    def certificates(ctx: StepContext) -> None:
        if not tls:
            ctx.skip("TLS off (registry.tls = false)")
        made_ca = pki.ensure_ca(pki.CertPaths(paths.pki))
        names = _cert_names(address)
        issued = pki.ensure_server_cert(pki.CertPaths(paths.pki), names)
        ctx.note = ("new CA, " if made_ca else "") + (
            "new server certificate" if issued else "certificates kept"
        )
        ctx.info(f"server certificate names: {', '.join(names)}")

    def engine_trust(ctx: StepContext) -> None:
        if not tls:
            ctx.skip("TLS off")
        target = engine_ca_file(str(address))
        ca = (paths.pki / "ca.crt").read_bytes()
        if target.exists() and target.read_bytes() == ca:
            ctx.skip(f"{target} up to date")
        existed = target.parent.exists()
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(ca)
        if not existed:
            ctx.undo(f"remove {target.parent}", lambda: _remove_engine_ca(str(address)))
        ctx.info(f"installed the CA for the engine in {target}")

    def network(ctx: StepContext) -> None:
        net = str(cfg["registry.network"])
        if not net:
            ctx.skip("default bridge")
        _attrs, created = engine.ensure_network(
            net, {plan.ROLE_LABEL: plan.ROLE, **_test_label(cfg)}
        )
        if created:
            ctx.undo(f"remove network {net}", lambda: _remove_network(net))
        ctx.note = "created" if created else "exists"

    def container(ctx: StepContext) -> None:
        vols = _volumes(cfg)
        config_id = hashlib.sha256(
            json.dumps(
                {
                    "config": paths.config.read_text(),
                    "vols": vols,
                    "image": image,
                    "img_id": (engine.image_attrs(image) or {}).get("Id"),
                    "port": address.port,
                    "cert": _file_digest(_server_certs(cfg).server_cert),
                    "network": str(cfg["registry.network"]),
                },
                sort_keys=True,
            ).encode()
        ).hexdigest()[:16]
        attrs = engine.container_attrs(name)
        if attrs is not None:
            labels = (attrs.get("Config") or {}).get("Labels") or {}
            if labels.get(CONFIG_LABEL) == config_id:
                if not (attrs.get("State") or {}).get("Running"):
                    dc.start(name)
                    ctx.skip("started the existing container")
                ctx.skip("already running with this configuration")
            if labels.get(plan.ROLE_LABEL) != plan.ROLE:
                raise UserError(
                    f"a container named {name} exists and is not a devbox registry",
                    hint="set registry.name to another name",
                )
            dc.remove(name)
            out.recreated = True
        kwargs = plan.run_kwargs(
            name=name,
            image=image,
            binary=binary,
            port=address.port,
            vols=vols,
            labels={CONFIG_LABEL: config_id, **_test_label(cfg)},
            network=str(cfg["registry.network"]),
        )
        ctx.undo(f"remove container {name}", lambda: dc.remove(name))
        engine.run_container(kwargs)
        ctx.info(f"started {name} from {image} on port {address.port}")

    def ready(ctx: StepContext) -> None:
        _wait_ready(cfg, name, str(address))
        state = {
            "address": str(address),
            "name": name,
            "image": image,
            "tls": tls,
            "storage": str(storage),
            "port": address.port,
        }
        paths.state.write_text(json.dumps(state, indent=2) + "\n")

    steps = [
        Step("registry image", registry_image),
        Step("config and storage", files),
        Step("network", network),
        Step("certificates", certificates),
        Step("trust for the engine", engine_trust),
        Step("registry container", container),
        Step("wait until it answers", ready),
    ]
    try:
        res = run_steps(f"registryserver up ({address})", steps, oplog, reporter)
    finally:
        if own_log:
            oplog.close()
    out.seconds = time.monotonic() - t0
    out.steps = res.durations
    return out


def _file_digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def _remove_network(name: str) -> None:
    from devbox.adapters.docker import engine

    engine.remove_network(name)


def _remove_engine_ca(address: str) -> None:
    target = engine_ca_file(address)
    if target.exists():
        target.unlink()
    if target.parent.exists() and not any(target.parent.iterdir()):
        target.parent.rmdir()


def remove_engine_ca(cfg: Config) -> None:
    """Take devbox's CA out of the engine's trust for this registry (``down --purge``)."""
    _remove_engine_ca(str(serve_address(cfg)))


def down(cfg: Config) -> bool:
    """Stop and remove the registry container; storage, users and certificates stay."""
    from devbox.adapters.docker import engine

    name = str(cfg["registry.name"])
    attrs = engine.container_attrs(name)
    if attrs is None:
        return False
    labels = (attrs.get("Config") or {}).get("Labels") or {}
    if labels.get(plan.ROLE_LABEL) != plan.ROLE:
        raise UserError(f"container {name} is not a devbox registry; not touching it")
    with OpLog(Layout(cfg.root).host_log) as log:
        dc.stop(name, timeout=10)
        dc.remove(name)
        log.write(f"registryserver down: removed {name}; storage {cfg['registry.storage']} kept")
    return True


@dataclass
class RegistryStatus:
    address: str
    name: str
    state: str  # running | stopped | absent
    tls: bool
    ca: str
    users: list[str]
    storage: str
    storage_bytes: int
    repositories: dict[str, list[str]]
    error: str = ""

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def status(cfg: Config) -> RegistryStatus:
    from devbox.adapters import registry_api
    from devbox.adapters.docker import engine

    paths = server_paths(cfg)
    name = str(cfg["registry.name"])
    attrs = engine.container_attrs(name)
    if attrs is None:
        state = "absent"
    else:
        state = "running" if (attrs.get("State") or {}).get("Running") else "stopped"
    storage = Path(cfg["registry.storage"])
    users = sorted(u for u in plan.parse_htpasswd(_htpasswd_text(paths)) if u != plan.ADMIN_USER)
    address = registry_address(cfg) or str(serve_address(cfg))
    tls = bool(cfg["registry.tls"])
    out = RegistryStatus(
        address,
        name,
        state,
        tls,
        str(paths.pki / "ca.crt") if tls else "",
        users,
        str(storage),
        _du(storage) if storage.exists() else 0,
        {},
    )
    if state == "running" or cfg["registry.address"]:
        try:
            ep = _endpoint(cfg, address)
            for repo in registry_api.catalog(ep):
                out.repositories[repo] = registry_api.tags(ep, repo)
        except OperationFailed as err:
            out.error = err.message
    return out
