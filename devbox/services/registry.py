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
import os
import secrets
import socket
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from devbox import registry_plan as plan
from devbox.adapters import docker_containers as dc
from devbox.config import Config
from devbox.errors import DevboxError, NotReadyError, OperationFailed, UserError
from devbox.oplog import OpLog, register_secret
from devbox.paths import Layout
from devbox.resources import role_dir
from devbox.steps import Reporter, Step, StepContext, run_steps

ENGINE_CERTS_D = Path("/etc/docker/certs.d")
READY_TIMEOUT = 30.0
CONFIG_LABEL = "devbox.registry.config"
DEVBOX_REGISTRY_IMAGE = "devbox/registry:latest"


@dataclass(frozen=True)
class ServerPaths:
    dir: Path
    pki: Path

    @property
    def config(self) -> Path:
        return self.dir / "config.yml"

    @property
    def auth_dir(self) -> Path:
        return self.dir / "auth"

    @property
    def htpasswd(self) -> Path:
        return self.auth_dir / "htpasswd"

    @property
    def admin_secret(self) -> Path:
        return self.dir / "admin.secret"

    @property
    def state(self) -> Path:
        return self.dir / "server.json"


def server_paths(cfg: Config) -> ServerPaths:
    layout = Layout(cfg.root)
    return ServerPaths(layout.root / "registry", layout.pki / "registry")


def state_file(cfg: Config) -> Path:
    return server_paths(cfg).state


def _read_state(cfg: Config) -> dict[str, Any]:
    try:
        return dict(json.loads(state_file(cfg).read_text()))
    except (OSError, ValueError):
        return {}


def registry_address(cfg: Config) -> str:
    """HOST:PORT of the registry images go to: the ``registry.address`` setting, else the
    registry this host serves (``devbox registryserver up``), else empty."""
    configured = str(cfg["registry.address"] or "")
    if configured:
        return configured
    return str(_read_state(cfg).get("address", ""))


def serve_address(cfg: Config) -> plan.Address:
    """The address this host's registry server is reached at (and its listening port)."""
    configured = str(cfg["registry.address"] or "")
    if configured:
        return plan.parse_address(configured)
    return plan.Address(socket.gethostname(), int(cfg["registry.port"]))


def engine_ca_file(address: str) -> Path:
    return ENGINE_CERTS_D / address / "ca.crt"


def _cert_names(address: plan.Address) -> list[str]:
    from devbox.adapters import pki

    names = pki.host_names()
    if address.host not in names:
        names.append(address.host)
    return names


def _image(cfg: Config) -> tuple[str, str]:
    """(image, registry binary) to run."""
    custom = str(cfg["registry.image"] or "")
    if custom:
        return custom, "/bin/registry"
    return DEVBOX_REGISTRY_IMAGE, plan.DEBIAN_BINARY


def _admin_password(paths: ServerPaths) -> str:
    if paths.admin_secret.exists():
        password = paths.admin_secret.read_text().strip()
    else:
        password = secrets.token_urlsafe(24)
        paths.dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(paths.admin_secret, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(password + "\n")
    register_secret(password)
    return password


def _endpoint(cfg: Config, address: str | None = None, with_admin: bool = True) -> Any:
    from devbox.adapters import registry_api

    paths = server_paths(cfg)
    tls = bool(cfg["registry.tls"])
    where = address or registry_address(cfg) or str(serve_address(cfg))
    # our CA when we serve it; else the CA the engine trusts for it; else the system's
    ca: Path | None = paths.pki / "ca.crt"
    if ca is None or not ca.exists():
        ca = engine_ca_file(where) if engine_ca_file(where).exists() else None
    user, password = "", ""
    if with_admin and paths.admin_secret.exists():
        user, password = plan.ADMIN_USER, _admin_password(paths)
    elif with_admin:
        from devbox.adapters import docker_engine

        stored = docker_engine.stored_auth(f"{where}/probe")
        if stored:
            user, password = stored["username"], stored["password"]
            register_secret(password)
    return registry_api.Endpoint(where, tls=tls, ca_file=ca, user=user, password=password)


def _wait_ready(cfg: Config, name: str, address: str, timeout: float = READY_TIMEOUT) -> None:
    from devbox.adapters import docker_engine, registry_api

    ep = _endpoint(cfg, address, with_admin=False)
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        attrs = docker_engine.container_attrs(name) or {}
        if not (attrs.get("State") or {}).get("Running"):
            last = "container not running"
        else:
            try:
                status = registry_api.ping(ep, timeout=2.0)
                if status in (200, 401):
                    return
                last = f"HTTP {status}"
            except OperationFailed as err:
                last = str(err)
        time.sleep(0.3)
    logs = docker_engine.container_logs(name, tail=8).strip().splitlines()
    raise OperationFailed(f"registry {address} did not answer within {timeout:.0f}s: {last}",
                          hint=("container log: " + " | ".join(logs[-3:])) if logs else None)


def _htpasswd_text(paths: ServerPaths) -> str:
    try:
        return paths.htpasswd.read_text()
    except FileNotFoundError:
        return ""


def _private_auth_dir(paths: ServerPaths) -> None:
    """htpasswd 0600 (root; the registry runs as root in its container) in a 0700 dir."""
    paths.auth_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(paths.auth_dir, 0o700)
    if paths.htpasswd.exists():
        os.chmod(paths.htpasswd, 0o600)


def _write_htpasswd(paths: ServerPaths, text: str) -> None:
    _private_auth_dir(paths)
    tmp = paths.htpasswd.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    tmp.replace(paths.htpasswd)


def _config_text(cfg: Config, readonly: bool = False) -> str:
    from devbox.adapters import templates

    return templates.render("registry-config.yml.j2",
                            plan.config_context(tls=bool(cfg["registry.tls"]), readonly=readonly))


def _server_certs(cfg: Config) -> Any:
    from devbox.adapters import pki

    return pki.CertPaths(server_paths(cfg).pki)


def _volumes(cfg: Config) -> dict[str, dict[str, str]]:
    """What the registry container mounts: its config, htpasswd dir, storage and, with TLS,
    the directory holding only its own certificate and key."""
    paths = server_paths(cfg)
    tls_dir: Path | None = None
    if cfg["registry.tls"]:
        certs = _server_certs(cfg)
        tls_dir = certs.server_dir
        if tls_dir.resolve() == certs.dir.resolve() or (tls_dir / certs.ca_key.name).exists():
            raise OperationFailed(f"{tls_dir} holds the CA key; not mounting it into the registry",
                                  hint=f"remove {tls_dir} and run 'devbox registryserver up'")
    return plan.volumes(paths.config, paths.auth_dir, tls_dir, Path(cfg["registry.storage"]))


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
    from devbox.adapters import docker_engine, pki

    paths = server_paths(cfg)
    address = serve_address(cfg)
    name = str(cfg["registry.name"])
    storage = Path(cfg["registry.storage"])
    tls = bool(cfg["registry.tls"])
    image, binary = _image(cfg)
    own_log = log is None
    oplog = log or OpLog(Layout(cfg.root).host_log)
    out = UpResult(str(address), name, image, tls, str(storage),
                   str(engine_ca_file(str(address))) if tls else "", False)
    t0 = time.monotonic()

    def registry_image(ctx: StepContext) -> None:
        if docker_engine.image_attrs(image) is not None and image != DEVBOX_REGISTRY_IMAGE:
            ctx.skip(f"{image} present")
        if image != DEVBOX_REGISTRY_IMAGE:
            raise UserError(f"registry image {image} is not here",
                            hint="load it (docker load) or unset registry.image to build "
                                 "devbox/registry from the Debian base")
        from devbox.services import images

        ctx.progress(0, None, "building devbox/registry (Debian docker-registry)")
        built = images.build_image(cfg, "registry", definitions=role_dir("registryserver")
                                   / "images", tag_registry=False, log=oplog)
        ctx.note = "up to date" if built.skipped else f"built in {built.seconds:.1f}s"

    def files(ctx: StepContext) -> None:
        storage.mkdir(parents=True, exist_ok=True)
        paths.dir.mkdir(parents=True, exist_ok=True)
        paths.config.write_text(_config_text(cfg))
        _private_auth_dir(paths)  # an older devbox wrote htpasswd 0644
        text = _htpasswd_text(paths)
        users = plan.parse_htpasswd(text)
        admin = _admin_password(paths)
        if plan.ADMIN_USER not in users or not plan.check_password(admin,
                                                                   users[plan.ADMIN_USER]):
            _write_htpasswd(paths, plan.with_user(text, plan.ADMIN_USER,
                                                  plan.hash_password(admin)))
        ctx.info(f"config {paths.config}, storage {storage}")

    def certificates(ctx: StepContext) -> None:
        if not tls:
            ctx.skip("TLS off (registry.tls = false)")
        made_ca = pki.ensure_ca(pki.CertPaths(paths.pki))
        names = _cert_names(address)
        issued = pki.ensure_server_cert(pki.CertPaths(paths.pki), names)
        ctx.note = ("new CA, " if made_ca else "") + ("new server certificate" if issued
                                                       else "certificates kept")
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
        _attrs, created = docker_engine.ensure_network(
            net, {plan.ROLE_LABEL: plan.ROLE, **_test_label(cfg)})
        if created:
            ctx.undo(f"remove network {net}", lambda: _remove_network(net))
        ctx.note = "created" if created else "exists"

    def container(ctx: StepContext) -> None:
        vols = _volumes(cfg)
        config_id = hashlib.sha256(json.dumps(
            {"config": paths.config.read_text(), "vols": vols, "image": image,
             "img_id": (docker_engine.image_attrs(image) or {}).get("Id"),
             "port": address.port, "cert": _file_digest(_server_certs(cfg).server_cert),
             "network": str(cfg["registry.network"])},
            sort_keys=True).encode()).hexdigest()[:16]
        attrs = docker_engine.container_attrs(name)
        if attrs is not None:
            labels = (attrs.get("Config") or {}).get("Labels") or {}
            if labels.get(CONFIG_LABEL) == config_id:
                if not (attrs.get("State") or {}).get("Running"):
                    dc.start(name)
                    ctx.skip("started the existing container")
                ctx.skip("already running with this configuration")
            if labels.get(plan.ROLE_LABEL) != plan.ROLE:
                raise UserError(f"a container named {name} exists and is not a devbox registry",
                                hint="set registry.name to another name")
            dc.remove(name)
            out.recreated = True
        kwargs = plan.run_kwargs(name=name, image=image, binary=binary, port=address.port,
                                 vols=vols, labels={CONFIG_LABEL: config_id,
                                                    **_test_label(cfg)},
                                 network=str(cfg["registry.network"]))
        ctx.undo(f"remove container {name}", lambda: dc.remove(name))
        docker_engine.run_container(kwargs)
        ctx.info(f"started {name} from {image} on port {address.port}")

    def ready(ctx: StepContext) -> None:
        _wait_ready(cfg, name, str(address))
        state = {"address": str(address), "name": name, "image": image, "tls": tls,
                 "storage": str(storage), "port": address.port}
        paths.state.write_text(json.dumps(state, indent=2) + "\n")

    steps = [Step("registry image", registry_image), Step("config and storage", files),
             Step("network", network), Step("certificates", certificates),
             Step("trust for the engine", engine_trust), Step("registry container", container),
             Step("wait until it answers", ready)]
    try:
        res = run_steps(f"registryserver up ({address})", steps, oplog, reporter)
    finally:
        if own_log:
            oplog.close()
    out.seconds = time.monotonic() - t0
    out.steps = res.durations
    return out


def _test_label(cfg: Config) -> dict[str, str]:
    run_id = cfg.environ.get("DEVBOX_TEST_RUN_ID", "")
    return {"devbox.test-run": run_id} if run_id else {}


def _file_digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def _remove_network(name: str) -> None:
    from devbox.adapters import docker_engine

    docker_engine.remove_network(name)


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
    from devbox.adapters import docker_engine

    name = str(cfg["registry.name"])
    attrs = docker_engine.container_attrs(name)
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


def _du(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for fname in files:
            try:
                total += os.lstat(os.path.join(dirpath, fname)).st_blocks * 512
            except OSError:
                continue
    return total


def status(cfg: Config) -> RegistryStatus:
    from devbox.adapters import docker_engine, registry_api

    paths = server_paths(cfg)
    name = str(cfg["registry.name"])
    attrs = docker_engine.container_attrs(name)
    if attrs is None:
        state = "absent"
    else:
        state = "running" if (attrs.get("State") or {}).get("Running") else "stopped"
    storage = Path(cfg["registry.storage"])
    users = sorted(u for u in plan.parse_htpasswd(_htpasswd_text(paths)) if u != plan.ADMIN_USER)
    address = registry_address(cfg) or str(serve_address(cfg))
    tls = bool(cfg["registry.tls"])
    out = RegistryStatus(address, name, state, tls,
                         str(paths.pki / "ca.crt") if tls else "", users, str(storage),
                         _du(storage) if storage.exists() else 0, {})
    if state == "running" or cfg["registry.address"]:
        try:
            ep = _endpoint(cfg, address)
            for repo in registry_api.catalog(ep):
                out.repositories[repo] = registry_api.tags(ep, repo)
        except OperationFailed as err:
            out.error = err.message
    return out


def user_add(cfg: Config, user: str, password: str, login: bool = True) -> dict[str, object]:
    """Add (or re-password) a registry user; restart the server so it reads the file; log the
    engine in as that user. The password is never logged."""
    from devbox.adapters import docker_engine

    plan.validate_user(user)
    if user == plan.ADMIN_USER:
        raise UserError(f"{user} is devbox's own account", hint="pick another user name")
    plan.validate_password(password)
    register_secret(password)
    paths = server_paths(cfg)
    before = _htpasswd_text(paths)
    existed = user in plan.parse_htpasswd(before)
    name = str(cfg["registry.name"])
    address = registry_address(cfg) or str(serve_address(cfg))
    _write_htpasswd(paths, plan.with_user(before, user, plan.hash_password(password)))
    logged_in = False
    with OpLog(Layout(cfg.root).host_log) as log:
        try:
            restarted = _reload(cfg, name)
            if login:
                try:
                    docker_engine.login(address, user, password)
                except DevboxError as err:
                    raise OperationFailed(
                        err.message, hint="is the registry up and trusted? 'devbox "
                        "registryserver status'; or add the user with --no-login") from err
                docker_engine.save_login(address, user, password)
                logged_in = True
        except BaseException:
            # put the old user list back: nothing half-made
            _write_htpasswd(paths, before)
            try:
                _reload(cfg, name)
            except DevboxError as err:
                log.write(f"registryserver: could not restart {name} after rollback: {err}")
            log.write(f"registryserver: adding user {user} failed; user list restored")
            raise
        log.write(f"registryserver: {'updated' if existed else 'added'} user {user}")
        if logged_in:
            log.write(f"registryserver: engine logged in to {address} as {user}")
    return {"user": user, "updated": existed, "restarted": restarted, "logged_in": logged_in,
            "address": address}


def user_remove(cfg: Config, user: str) -> dict[str, object]:
    from devbox.adapters import docker_engine

    plan.validate_user(user)
    if user == plan.ADMIN_USER:
        raise UserError(f"{user} is devbox's own account and cannot be removed")
    paths = server_paths(cfg)
    _write_htpasswd(paths, plan.without_user(_htpasswd_text(paths), user))
    restarted = _reload(cfg, str(cfg["registry.name"]))
    address = registry_address(cfg) or str(serve_address(cfg))
    logged_out = docker_engine.forget_login(address, user)
    with OpLog(Layout(cfg.root).host_log) as log:
        log.write(f"registryserver: removed user {user}")
    return {"user": user, "restarted": restarted, "logged_out": logged_out}


def _reload(cfg: Config, name: str) -> bool:
    """Restart a running registry so it re-reads htpasswd. False when none runs."""
    from devbox.adapters import docker_engine

    attrs = docker_engine.container_attrs(name)
    if attrs is None or not (attrs.get("State") or {}).get("Running"):
        return False
    docker_engine.restart_container(name, timeout=10)
    _wait_ready(cfg, name, str(serve_address(cfg)))
    return True


@dataclass
class GcResult:
    was_running: bool
    blobs_deleted: int
    bytes_before: int
    bytes_after: int
    seconds: float

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def gc(cfg: Config, reporter: Reporter | None = None, log: OpLog | None = None) -> GcResult:
    """Garbage-collect the registry's storage with the server stopped, then start it again."""
    from devbox.adapters import docker_engine

    name = str(cfg["registry.name"])
    paths = server_paths(cfg)
    if not paths.config.exists():
        raise NotReadyError("no registry here yet", hint="run 'devbox registryserver up' first")
    attrs = docker_engine.container_attrs(name)
    was_running = bool(attrs and (attrs.get("State") or {}).get("Running"))
    storage = Path(cfg["registry.storage"])
    out = GcResult(was_running, 0, _du(storage), 0, 0.0)
    image, binary = _image(cfg)
    own_log = log is None
    oplog = log or OpLog(Layout(cfg.root).host_log)
    t0 = time.monotonic()

    def stop(ctx: StepContext) -> None:
        if not was_running:
            ctx.skip("registry not running")
        dc.stop(name, timeout=10)
        ctx.undo(f"start {name} again", lambda: dc.start(name))

    def collect(ctx: StepContext) -> None:
        job = f"{name}-gc"
        dc.remove(job)
        kwargs = plan.gc_kwargs(name=job, image=image, binary=binary, vols=_volumes(cfg),
                                labels=_test_label(cfg))
        docker_engine.run_container(kwargs)
        try:
            code, output = docker_engine.wait_container(job, timeout=1800)
        finally:
            dc.remove(job)
        for line in output.splitlines():
            oplog.write(f"  | {line}")
        if code != 0:
            tail = output.strip().splitlines()[-1:] or [""]
            raise OperationFailed(f"garbage-collect exited with {code}: {tail[0]}",
                                  hint=f"log: {oplog.path}")
        marked, out.blobs_deleted, manifests = plan.parse_gc_output(output)
        ctx.note = (f"{marked} blob(s) in use, {out.blobs_deleted} blob(s) and {manifests} "
                    "manifest(s) deleted")

    def start(ctx: StepContext) -> None:
        if not was_running:
            ctx.skip("registry was not running")
        dc.start(name)
        _wait_ready(cfg, name, str(serve_address(cfg)))

    try:
        run_steps("registryserver gc", [Step("stop the registry", stop),
                                        Step("garbage-collect", collect),
                                        Step("start the registry", start)], oplog, reporter)
    finally:
        if own_log:
            oplog.close()
    out.bytes_after = _du(storage)
    out.seconds = time.monotonic() - t0
    return out


def check_reachable(cfg: Config) -> Any:
    """Doctor check: does the configured registry answer over TLS with our CA?"""
    from devbox.adapters import registry_api
    from devbox.services.doctor import Check

    address = registry_address(cfg)
    if not address:
        return Check("registry", True, "none configured", needed=False)
    ep = _endpoint(cfg, address, with_admin=False)
    try:
        code = registry_api.ping(ep, timeout=3.0)
    except OperationFailed as err:
        return Check("registry", False, err.message,
                     "start it with 'devbox registryserver up', or fix registry.address")
    if code in (200, 401):
        auth = "auth required" if code == 401 else "no auth"
        return Check("registry", True, f"{address} answers ({'TLS' if ep.tls else 'HTTP'}, "
                                       f"{auth})")
    return Check("registry", False, f"{address} answered HTTP {code}",
                 "check the registry with 'devbox registryserver status'")
