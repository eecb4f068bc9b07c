"""The private registry's users: htpasswd entries, add and remove."""

from __future__ import annotations

import os

from devbox.config import Config
from devbox.errors import DevboxError, OperationFailed, UserError
from devbox.model import registry_plan as plan
from devbox.oplog import OpLog, register_secret
from devbox.paths import Layout
from devbox.services.registry_site import (
    ServerPaths,
    registry_address,
    reload_server,
    serve_address,
    server_paths,
)


def htpasswd_text(paths: ServerPaths) -> str:
    try:
        return paths.htpasswd.read_text()
    except FileNotFoundError:
        return ""


def private_auth_dir(paths: ServerPaths) -> None:
    """htpasswd 0600 (root; the registry runs as root in its container) in a 0700 dir."""
    paths.auth_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(paths.auth_dir, 0o700)
    if paths.htpasswd.exists():
        os.chmod(paths.htpasswd, 0o600)


def write_htpasswd(paths: ServerPaths, text: str) -> None:
    private_auth_dir(paths)
    tmp = paths.htpasswd.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    tmp.replace(paths.htpasswd)


def user_add(cfg: Config, user: str, password: str, login: bool = True) -> dict[str, object]:
    """Add (or re-password) a registry user; restart the server so it reads the file; log the
    engine in as that user. The password is never logged."""
    from devbox.adapters.docker import engine

    plan.validate_user(user)
    if user == plan.ADMIN_USER:
        raise UserError(f"{user} is devbox's own account", hint="pick another user name")
    plan.validate_password(password)
    register_secret(password)
    paths = server_paths(cfg)
    before = htpasswd_text(paths)
    existed = user in plan.parse_htpasswd(before)
    name = cfg.text("registry.name")
    address = registry_address(cfg) or str(serve_address(cfg))
    write_htpasswd(paths, plan.with_user(before, user, plan.hash_password(password)))
    logged_in = False
    with OpLog(Layout(cfg.root).host_log) as log:
        try:
            restarted = reload_server(cfg, name)
            if login:
                try:
                    engine.login(address, user, password)
                except DevboxError as err:
                    raise OperationFailed(
                        err.message,
                        hint="is the registry up and trusted? 'devbox "
                        "registryserver status'; or add the user with --no-login",
                    ) from err
                engine.save_login(address, user, password)
                logged_in = True
        except BaseException:
            # put the old user list back: nothing half-made
            write_htpasswd(paths, before)
            try:
                reload_server(cfg, name)
            except DevboxError as err:
                log.write(f"registryserver: could not restart {name} after rollback: {err}")
            log.write(f"registryserver: adding user {user} failed; user list restored")
            raise
        log.write(f"registryserver: {'updated' if existed else 'added'} user {user}")
        if logged_in:
            log.write(f"registryserver: engine logged in to {address} as {user}")
    return {
        "user": user,
        "updated": existed,
        "restarted": restarted,
        "logged_in": logged_in,
        "address": address,
    }


def user_remove(cfg: Config, user: str) -> dict[str, object]:
    from devbox.adapters.docker import engine

    plan.validate_user(user)
    if user == plan.ADMIN_USER:
        raise UserError(f"{user} is devbox's own account and cannot be removed")
    paths = server_paths(cfg)
    write_htpasswd(paths, plan.without_user(htpasswd_text(paths), user))
    restarted = reload_server(cfg, cfg.text("registry.name"))
    address = registry_address(cfg) or str(serve_address(cfg))
    logged_out = engine.forget_login(address, user)
    with OpLog(Layout(cfg.root).host_log) as log:
        log.write(f"registryserver: removed user {user}")
    return {"user": user, "restarted": restarted, "logged_out": logged_out}
