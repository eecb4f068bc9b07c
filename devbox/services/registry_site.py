"""The private registry's site: its files, address, CA, container parameters, readiness."""

from __future__ import annotations

import json
import os
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devbox.config import Config
from devbox.errors import OperationFailed
from devbox.model import registry_plan as plan
from devbox.oplog import register_secret
from devbox.paths import Layout
from devbox.waits import wait_until

ENGINE_CERTS_D = Path("/etc/docker/certs.d")


READY_TIMEOUT = 30.0


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
    configured = cfg.text("registry.address")
    if configured:
        return configured
    return str(_read_state(cfg).get("address", ""))


def serve_address(cfg: Config) -> plan.Address:
    """The address this host's registry server is reached at (and its listening port)."""
    configured = cfg.text("registry.address")
    if configured:
        return plan.parse_address(configured)
    return plan.Address(socket.gethostname(), cfg.integer("registry.port"))


def engine_ca_file(address: str) -> Path:
    return ENGINE_CERTS_D / address / "ca.crt"


def cert_names(address: plan.Address) -> list[str]:
    from devbox.adapters import pki

    names = pki.host_names()
    if address.host not in names:
        names.append(address.host)
    return names


def registry_image(cfg: Config) -> tuple[str, str]:
    """(image, registry binary) to run."""
    custom = cfg.text("registry.image")
    if custom:
        return custom, "/bin/registry"
    return DEVBOX_REGISTRY_IMAGE, plan.DEBIAN_BINARY


def admin_password(paths: ServerPaths) -> str:
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


def endpoint(cfg: Config, address: str | None = None, with_admin: bool = True) -> Any:
    from devbox.adapters import registry_api

    paths = server_paths(cfg)
    tls = cfg.flag("registry.tls")
    where = address or registry_address(cfg) or str(serve_address(cfg))
    # our CA when we serve it; else the CA the engine trusts for it; else the system's
    ca: Path | None = paths.pki / "ca.crt"
    if ca is None or not ca.exists():
        ca = engine_ca_file(where) if engine_ca_file(where).exists() else None
    user, password = "", ""
    if with_admin and paths.admin_secret.exists():
        user, password = plan.ADMIN_USER, admin_password(paths)
    elif with_admin:
        from devbox.adapters.docker import engine

        stored = engine.stored_auth(f"{where}/probe")
        if stored:
            user, password = stored["username"], stored["password"]
            register_secret(password)
    return registry_api.Endpoint(where, tls=tls, ca_file=ca, user=user, password=password)


def wait_ready(cfg: Config, name: str, address: str, timeout: float = READY_TIMEOUT) -> None:
    from devbox.adapters import registry_api
    from devbox.adapters.docker import engine

    ep = endpoint(cfg, address, with_admin=False)
    last = ""

    def answers() -> bool:
        nonlocal last
        attrs = engine.container_attrs(name) or {}
        if not (attrs.get("State") or {}).get("Running"):
            last = "container not running"
            return False
        try:
            status = registry_api.ping(ep, timeout=2.0)
        except OperationFailed as err:
            last = str(err)
            return False
        last = f"HTTP {status}"
        return status in (200, 401)

    def not_answering() -> OperationFailed:
        logs = engine.container_logs(name, tail=8).strip().splitlines()
        return OperationFailed(
            f"registry {address} did not answer within {timeout:.0f}s: {last}",
            hint=("container log: " + " | ".join(logs[-3:])) if logs else None,
        )

    wait_until(answers, timeout, 0.3, f"registry {address}", error=not_answering)


def server_certs(cfg: Config) -> Any:
    from devbox.adapters import pki

    return pki.CertPaths(server_paths(cfg).pki)


def volumes(cfg: Config) -> dict[str, dict[str, str]]:
    """What the registry container mounts: its config, htpasswd dir, storage and, with TLS,
    the directory holding only its own certificate and key."""
    paths = server_paths(cfg)
    tls_dir: Path | None = None
    if cfg.flag("registry.tls"):
        certs = server_certs(cfg)
        tls_dir = certs.server_dir
        if tls_dir.resolve() == certs.dir.resolve() or (tls_dir / certs.ca_key.name).exists():
            raise OperationFailed(
                f"{tls_dir} holds the CA key; not mounting it into the registry",
                hint=f"remove {tls_dir} and run 'devbox registryserver up'",
            )
    return plan.volumes(paths.config, paths.auth_dir, tls_dir, cfg.path("registry.storage"))


def test_label(cfg: Config) -> dict[str, str]:
    run_id = cfg.environ.get("DEVBOX_TEST_RUN_ID", "")
    return {"devbox.test-run": run_id} if run_id else {}


def reload_server(cfg: Config, name: str) -> bool:
    """Restart a running registry so it re-reads htpasswd. False when none runs."""
    from devbox.adapters.docker import engine

    attrs = engine.container_attrs(name)
    if attrs is None or not (attrs.get("State") or {}).get("Running"):
        return False
    engine.restart_container(name, timeout=10)
    wait_ready(cfg, name, str(serve_address(cfg)))
    return True


def check_reachable(cfg: Config) -> Any:
    """Doctor check: does the configured registry answer over TLS with our CA?"""
    from devbox.adapters import registry_api
    from devbox.model.checks import Check

    address = registry_address(cfg)
    if not address:
        return Check("registry", True, "none configured", needed=False)
    ep = endpoint(cfg, address, with_admin=False)
    try:
        code = registry_api.ping(ep, timeout=3.0)
    except OperationFailed as err:
        return Check(
            "registry",
            False,
            err.message,
            "start it with 'devbox registryserver up', or fix registry.address",
        )
    if code in (200, 401):
        auth = "auth required" if code == 401 else "no auth"
        return Check("registry", True, f"{address} answers ({'TLS' if ep.tls else 'HTTP'}, {auth})")
    return Check(
        "registry",
        False,
        f"{address} answered HTTP {code}",
        "check the registry with 'devbox registryserver status'",
    )
