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
from dataclasses import dataclass, field
from pathlib import Path

from devbox.adapters.docker import containers as dc
from devbox.adapters.host.diskusage import disk_usage
from devbox.config import Config
from devbox.errors import OperationFailed, UserError
from devbox.model import registry_plan as plan
from devbox.model.record import Record
from devbox.oplog import OpLog
from devbox.paths import Layout
from devbox.resources import role_dir
from devbox.services.registry_site import (
    DEVBOX_REGISTRY_IMAGE,
    ServerPaths,
    admin_password,
    cert_names,
    endpoint,
    engine_ca_file,
    registry_address,
    registry_image,
    serve_address,
    server_certs,
    server_paths,
    test_label,
    volumes,
    wait_ready,
)
from devbox.services.registry_users import htpasswd_text, private_auth_dir, write_htpasswd
from devbox.steps import JobSteps, Reporter, StepContext, bind, job_log, run_steps

CONFIG_LABEL = "devbox.registry.config"


def _config_text(cfg: Config, readonly: bool = False) -> str:
    from devbox.adapters import templates

    return templates.render(
        "registry-config.yml.j2",
        plan.config_context(tls=cfg.flag("registry.tls"), readonly=readonly),
    )


@dataclass
class UpResult(Record):
    address: str
    name: str
    image: str
    tls: bool
    storage: str
    ca: str
    recreated: bool
    seconds: float = 0.0
    steps: dict[str, float] = field(default_factory=dict)


@dataclass
class RegistryJob:
    """What the steps of one ``registryserver up`` share: the settings they read once, and the
    result they fill in."""

    cfg: Config
    log: OpLog
    paths: ServerPaths = field(init=False)
    address: plan.Address = field(init=False)
    name: str = field(init=False)
    storage: Path = field(init=False)
    tls: bool = field(init=False)
    image: str = field(init=False)
    binary: str = field(init=False)
    result: UpResult = field(init=False)

    def __post_init__(self) -> None:
        cfg = self.cfg
        self.paths = server_paths(cfg)
        self.address = serve_address(cfg)
        self.name = cfg.text("registry.name")
        self.storage = cfg.path("registry.storage")
        self.tls = cfg.flag("registry.tls")
        self.image, self.binary = registry_image(cfg)
        ca = str(engine_ca_file(str(self.address))) if self.tls else ""
        self.result = UpResult(
            str(self.address), self.name, self.image, self.tls, str(self.storage), ca, False
        )


def ensure_image(job: RegistryJob, ctx: StepContext) -> None:
    from devbox.adapters.docker import engine

    image = job.image
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
        job.cfg,
        "registry",
        definitions=role_dir("registryserver") / "images",
        tag_registry=False,
        log=job.log,
    )
    ctx.note = "up to date" if built.skipped else f"built in {built.seconds:.1f}s"


def write_files(job: RegistryJob, ctx: StepContext) -> None:
    paths = job.paths
    job.storage.mkdir(parents=True, exist_ok=True)
    paths.dir.mkdir(parents=True, exist_ok=True)
    paths.config.write_text(_config_text(job.cfg))
    private_auth_dir(paths)  # an older devbox wrote htpasswd 0644
    text = htpasswd_text(paths)
    users = plan.parse_htpasswd(text)
    admin = admin_password(paths)
    if plan.ADMIN_USER not in users or not plan.check_password(admin, users[plan.ADMIN_USER]):
        write_htpasswd(paths, plan.with_user(text, plan.ADMIN_USER, plan.hash_password(admin)))
    ctx.info(f"config {paths.config}, storage {job.storage}")


def ensure_network(job: RegistryJob, ctx: StepContext) -> None:
    from devbox.adapters.docker import engine

    net = job.cfg.text("registry.network")
    if not net:
        ctx.skip("default bridge")
    _attrs, created = engine.ensure_network(
        net, {plan.ROLE_LABEL: plan.ROLE, **test_label(job.cfg)}
    )
    if created:
        ctx.undo(f"remove network {net}", lambda: _remove_network(net))
    ctx.note = "created" if created else "exists"


def certificates(job: RegistryJob, ctx: StepContext) -> None:
    from devbox.adapters import pki

    if not job.tls:
        ctx.skip("TLS off (registry.tls = false)")
    made_ca = pki.ensure_ca(pki.CertPaths(job.paths.pki))
    names = cert_names(job.address)
    issued = pki.ensure_server_cert(pki.CertPaths(job.paths.pki), names)
    ctx.note = ("new CA, " if made_ca else "") + (
        "new server certificate" if issued else "certificates kept"
    )
    ctx.info(f"server certificate names: {', '.join(names)}")


def engine_trust(job: RegistryJob, ctx: StepContext) -> None:
    if not job.tls:
        ctx.skip("TLS off")
    address = str(job.address)
    target = engine_ca_file(address)
    ca = (job.paths.pki / "ca.crt").read_bytes()
    if target.exists() and target.read_bytes() == ca:
        ctx.skip(f"{target} up to date")
    existed = target.parent.exists()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(ca)
    if not existed:
        ctx.undo(f"remove {target.parent}", lambda: _remove_engine_ca(address))
    ctx.info(f"installed the CA for the engine in {target}")


def _config_id(job: RegistryJob, vols: dict[str, dict[str, str]]) -> str:
    """What the running container was made from: a change recreates it."""
    from devbox.adapters.docker import engine

    return hashlib.sha256(
        json.dumps(
            {
                "config": job.paths.config.read_text(),
                "vols": vols,
                "image": job.image,
                "img_id": (engine.image_attrs(job.image) or {}).get("Id"),
                "port": job.address.port,
                "cert": _file_digest(server_certs(job.cfg).server_cert),
                "network": job.cfg.text("registry.network"),
            },
            sort_keys=True,
        ).encode()
    ).hexdigest()[:16]


def run_container(job: RegistryJob, ctx: StepContext) -> None:
    from devbox.adapters.docker import engine

    name = job.name
    vols = volumes(job.cfg)
    config_id = _config_id(job, vols)
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
        job.result.recreated = True
    kwargs = plan.run_kwargs(
        name=name,
        image=job.image,
        binary=job.binary,
        port=job.address.port,
        vols=vols,
        labels={CONFIG_LABEL: config_id, **test_label(job.cfg)},
        network=job.cfg.text("registry.network"),
    )
    ctx.undo(f"remove container {name}", lambda: dc.remove(name))
    engine.run_container(kwargs)
    ctx.info(f"started {name} from {job.image} on port {job.address.port}")


def wait_until_ready(job: RegistryJob, ctx: StepContext) -> None:
    wait_ready(job.cfg, job.name, str(job.address))
    state = {
        "address": str(job.address),
        "name": job.name,
        "image": job.image,
        "tls": job.tls,
        "storage": str(job.storage),
        "port": job.address.port,
    }
    job.paths.state.write_text(json.dumps(state, indent=2) + "\n")


# registryserver up, step by step; the names are what the log, the progress display and the
# fault suite's kill points see
STEPS: JobSteps[RegistryJob] = [
    ("registry image", ensure_image),
    ("config and storage", write_files),
    ("network", ensure_network),
    ("certificates", certificates),
    ("trust for the engine", engine_trust),
    ("registry container", run_container),
    ("wait until it answers", wait_until_ready),
]


def up(cfg: Config, reporter: Reporter | None = None, log: OpLog | None = None) -> UpResult:
    """Start (or keep running) the registry server; idempotent."""
    with job_log(log, Layout(cfg.root).host_log) as oplog:
        job = RegistryJob(cfg, oplog)
        t0 = time.monotonic()
        title = f"registryserver up ({job.address})"
        res = run_steps(title, bind(job, STEPS), oplog, reporter)
    job.result.seconds = time.monotonic() - t0
    job.result.steps = res.durations
    return job.result


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

    name = cfg.text("registry.name")
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
class RegistryStatus(Record):
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


def status(cfg: Config) -> RegistryStatus:
    from devbox.adapters import registry_api
    from devbox.adapters.docker import engine

    paths = server_paths(cfg)
    name = cfg.text("registry.name")
    attrs = engine.container_attrs(name)
    if attrs is None:
        state = "absent"
    else:
        state = "running" if (attrs.get("State") or {}).get("Running") else "stopped"
    storage = cfg.path("registry.storage")
    users = sorted(u for u in plan.parse_htpasswd(htpasswd_text(paths)) if u != plan.ADMIN_USER)
    address = registry_address(cfg) or str(serve_address(cfg))
    tls = cfg.flag("registry.tls")
    out = RegistryStatus(
        address,
        name,
        state,
        tls,
        str(paths.pki / "ca.crt") if tls else "",
        users,
        str(storage),
        disk_usage(storage, one_filesystem=False),
        {},
    )
    if state == "running" or cfg.text("registry.address"):
        try:
            ep = endpoint(cfg, address)
            for repo in registry_api.catalog(ep):
                out.repositories[repo] = registry_api.tags(ep, repo)
        except OperationFailed as err:
            out.error = err.message
    return out
