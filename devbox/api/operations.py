"""What each endpoint does, for one caller: checks the caller may (owner, quota, admin-only
choices), then calls the same service the CLI called in-process before. In the service,
quick reads run in its threads and long work in a job child (devbox.api.jobs) whose progress
goes out as events. Root's CLI comes through the socket too, with its own settings; its
quick reads then run in a job child with root's environment."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from devbox.config import Config
from devbox.errors import NotReadyError, UserError
from devbox.model import owners
from devbox.model.limits import Limits, request
from devbox.model.owners import Caller
from devbox.steps import Reporter

Emit = Callable[[dict[str, Any]], None]


class EventReporter:
    """A steps.Reporter whose every call becomes one event of the stream."""

    def __init__(self, emit: Emit, stream: str = "") -> None:
        self.emit = emit
        self.stream = stream

    def _call(self, call: str, *args: Any) -> None:
        self.emit({"event": "report", "stream": self.stream, "call": call, "args": list(args)})

    def started(self, index: int, total: int, name: str) -> None:
        self._call("started", index, total, name)

    def progress(self, name: str, completed: float, total: float | None, detail: str) -> None:
        self._call("progress", name, completed, total, detail)

    def finished(self, name: str, seconds: float, note: str) -> None:
        self._call("finished", name, seconds, note)

    def failed(self, name: str, seconds: float, error: str) -> None:
        self._call("failed", name, seconds, error)

    def undoing(self, description: str) -> None:
        self._call("undoing", description)

    def close(self) -> None:
        self._call("close")


@dataclass
class Request:
    """One call: the service's config (jobs never write the caller's ~/.ssh: the client
    does, as the caller), who asks, the body, and where events go."""

    cfg: Config
    caller: Caller
    body: dict[str, Any]
    emit: Emit
    # asks the person at the client (text, secret) -> their answer or None; jobs only
    ask: Callable[[str, bool], str | None] | None = None

    def reporter(self, stream: str = "") -> Reporter:
        return EventReporter(self.emit, stream)

    def text(self, key: str, default: str | None = None) -> str | None:
        value = self.body.get(key, default)
        if value is not None and not isinstance(value, str):
            raise UserError(f"'{key}' must be a string")
        return value

    def flag(self, key: str) -> bool:
        return bool(self.body.get(key, False))

    def limits(self) -> Limits:
        return request(self.body.get("memory"), self.body.get("cpus"), self.body.get("pids"))


def job_config(cfg: Config) -> Config:
    return cfg.with_overrides({"ssh.write_config": False}, source="service")


@contextmanager
def callers_p4(req: Request) -> Iterator[Request]:
    """The request with the caller's own Perforce identity for its job (a user's: from their
    request, devbox.api.p4_identity; root's: as it came)."""
    from devbox.api.p4_identity import callers_config

    with callers_config(req.cfg, req.caller, req.body) as cfg:
        yield req if cfg is req.cfg else replace(req, cfg=cfg)


# ---- reads ---------------------------------------------------------------------------------
def list_containers(req: Request) -> list[dict[str, Any]]:
    from devbox.services import container_lifecycle

    rows = container_lifecycle.list_containers(
        req.cfg, include_stopped=req.flag("all"), with_size=not req.flag("no_size")
    )
    out = []
    for row in rows:
        if req.flag("mine") and row.owner_uid != req.caller.uid:
            continue
        out.append(row.to_dict())
    return out


def inspect(req: Request, name: str) -> dict[str, Any]:
    """What the caller's ssh needs: address, login user, host keys, whether a ProxyCommand
    is needed. Refused for a container the caller may not use."""
    from devbox.services import container_reach, tenancy

    st = tenancy.require_container(req.cfg, req.caller, name, "ssh into")
    return container_reach.reach_facts(req.cfg, name, st).to_dict()


def log_text(req: Request, name: str) -> dict[str, Any]:
    from devbox.services import container_lifecycle, tenancy

    tenancy.require_container(req.cfg, req.caller, name, "read the log of")
    path = container_lifecycle.log_path(req.cfg, name)
    offset = int(req.body.get("offset") or 0)  # logs --follow asks for what is new only
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except FileNotFoundError:
        data = b""
    return {"path": str(path), "text": data.decode(errors="replace"), "end": offset + len(data)}


def whoami(req: Request) -> dict[str, Any]:
    from devbox.services import tenancy

    quota = tenancy.quota_of(req.cfg, req.caller.user)
    owned = tenancy.owned(req.cfg, req.caller)
    return {
        **req.caller.to_dict(),
        "quota": {"containers": quota.containers, "memory": quota.memory, "cpus": quota.cpus},
        "quota_exempt": req.caller.uid == 0,  # tenancy.check_quota: root has none
        "used": {  # what the caller's containers are promised (placement: --host auto)
            "containers": len(owned),
            "memory": sum(lim.memory or 0 for _, lim in owned),
            "cpus": round(sum(lim.cpus or 0.0 for _, lim in owned), 3),
        },
        "owns": [name for name, _ in owned],
    }


# ---- changes -------------------------------------------------------------------------------
def _admin_choices(req: Request) -> None:
    """Choices a user's request may not make on a shared host: which host NIC a container
    hangs off (the LAN is the admin's), and an /opt seed from a host path (root would read a
    file the user may not)."""
    if req.caller.admin:
        return
    for key in ("parent", "vlan"):
        if req.body.get(key) not in (None, ""):
            owners.require_admin(req.caller, f"choosing the LAN ({key})")
    seed = req.text("opt_seed")
    if seed and not seed.startswith(("http://", "https://")):
        owners.require_admin(req.caller, "an /opt seed from a host path")


def _keys(req: Request) -> tuple[str, ...] | None:
    keys = req.body.get("public_keys")
    if keys is None:
        return None
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise UserError("'public_keys' must be a list of public key texts")
    return tuple(keys)


def make(req: Request) -> dict[str, Any]:
    _admin_choices(req)
    kind = req.text("kind", "dev") or "dev"
    with callers_p4(req) as own:
        if kind == "combo":
            return _make_combo(own)
        return _make(own, kind)


def _make(req: Request, kind: str) -> dict[str, Any]:
    from devbox.model.container_plan import MakeOptions
    from devbox.services import container_make, images

    if kind == "os":
        image: str | None = images.os_image_for(req.text("os", "debian-12") or "debian-12")
    elif kind == "dev":
        image = req.text("image")
    else:
        raise UserError(f"unknown container kind '{kind}'", hint="dev, os or combo")
    opts = MakeOptions(
        name=req.text("name") or "",
        branch=req.text("branch") or ("-" if kind == "os" else ""),
        kind=kind,
        image=image,
        parent=req.text("parent"),
        vlan=req.body.get("vlan"),
        opt_seed=req.text("opt_seed"),
        checkout=kind == "dev" and not req.flag("no_checkout"),
        limits=req.limits(),
        extra_labels=owners.owner_labels(req.caller),
        public_keys=_keys(req),
        keep_running=req.flag("keep_running"),
    )
    result = container_make.make(
        req.cfg,
        opts,
        req.reporter(f"make {opts.name}"),
        password=_password(req),
        admit=_quota(req),
    )
    return result.to_dict()


def _quota(req: Request) -> Callable[[list[Limits]], None]:
    from devbox.services import tenancy

    return lambda new: tenancy.check_quota(req.cfg, req.caller, new)


def _make_combo(req: Request) -> dict[str, Any]:
    from devbox.services import combos, tenancy

    product, release = req.text("product"), req.text("release")
    if not product or not release:
        raise UserError(
            "--product and --release go together",
            hint="example: --product acme --release 5.2 [--patch 1234]",
        )
    patches = req.body.get("patches") or []
    if not isinstance(patches, list):
        raise UserError("'patches' must be a list")
    combo = combos.make_combo(
        req.cfg,
        product,
        release,
        [str(p) for p in patches],
        name=req.text("name"),
        parent=req.text("parent"),
        vlan=req.body.get("vlan"),
        opt_seed=req.text("opt_seed"),
        checkout=not req.flag("no_checkout"),
        limits=req.limits(),
        reporter=req.reporter(f"combo {product} {release}"),
        owner_labels=owners.owner_labels(req.caller),
        public_keys=_keys(req),
        may_start=lambda name: tenancy.require_container(req.cfg, req.caller, name, "start"),
        admit=_quota(req),
    )
    return {"combo": combo.to_dict()}


def _password(req: Request) -> Callable[[], str] | None:
    """The Perforce password: from the body (``--password-stdin``), else asked for at the
    client's terminal only when the server wants one (no valid ticket), else none."""
    password = req.text("password")
    if password is not None:
        return lambda: password
    ask = req.ask
    if ask is None:
        return None

    def prompt() -> str:
        answer = ask("Perforce password: ", True)
        if answer is None:
            raise NotReadyError(
                "a Perforce login is needed and no password was given",
                hint="run 'p4 login' first, or give the password (at a terminal, or with "
                "--password-stdin)",
            )
        return answer

    return prompt


def start(req: Request, name: str) -> dict[str, Any]:
    from devbox.services import container_lifecycle, tenancy

    tenancy.require_container(req.cfg, req.caller, name, "start")
    return container_lifecycle.start(req.cfg, name, req.reporter(f"start {name}")).to_dict()


def stop(req: Request, name: str) -> dict[str, Any]:
    from devbox.services import container_lifecycle, tenancy

    tenancy.require_container(req.cfg, req.caller, name, "stop")
    container_lifecycle.stop(req.cfg, name)
    return {"name": name, "stopped": True}


def remove(req: Request, name: str) -> dict[str, Any]:
    from dataclasses import asdict

    from devbox.adapters.docker import containers as dc
    from devbox.model.naming import validate_name
    from devbox.services import container_lifecycle, tenancy

    validate_name(name)
    if not (req.caller.admin and dc.inspect(name) is None):
        # an admin may clear what a removed container left (its /opt with --purge)
        tenancy.require_container(req.cfg, req.caller, name, "remove")
    result = container_lifecycle.remove(
        req.cfg, name, purge=req.flag("purge"), force=req.flag("force")
    )
    return asdict(result)


def remove_clones(req: Request, name: str) -> dict[str, Any]:
    from dataclasses import asdict

    from devbox.adapters.docker import containers as dc
    from devbox.services import clone, tenancy

    if dc.inspect(name) is None:  # clone --hosts: SRC is on another host, its clones here
        from devbox.services import clone_import

        clone_import.require_may_remove_clones(req.cfg, req.caller, name)
    else:
        tenancy.require_container(req.cfg, req.caller, name, "remove the clones of")
    return asdict(clone.remove_clones(req.cfg, name))


def clone(req: Request, name: str) -> dict[str, Any]:
    from devbox.services import clone as clone_service
    from devbox.services import tenancy

    st = tenancy.require_container(req.cfg, req.caller, name, "clone")
    # an admin's clones of another's container are the admin's: their keys, not the source's
    # owner's, let people in (the owner's own clones keep the source's authorized_keys)
    theirs = owners.owner_of(st.labels)[1] == req.caller.uid
    names = req.body.get("names")  # clone --hosts: this host's share, named by the client
    if names is not None and not (
        isinstance(names, list) and all(isinstance(n, str) for n in names)
    ):
        raise UserError("'names' must be a list of clone names")
    run = clone_service.clone(
        req.cfg,
        name,
        int(req.body.get("count", 1)),
        prefix=req.text("prefix"),
        jobs=req.body.get("jobs"),
        reporter_for=req.reporter,
        requested=req.limits(),
        owner_labels=owners.owner_labels(req.caller),
        admit=_quota(req),
        login_keys=None if theirs else list(_keys(req) or ()),
        names=names,
        snapshot=req.text("snapshot"),
    )
    return run.to_dict(reach=bool(req.body.get("reach")))


def exec_in(req: Request, name: str) -> dict[str, Any]:
    from devbox.adapters.docker import containers as dc
    from devbox.services import tenancy

    st = tenancy.require_container(req.cfg, req.caller, name, "exec into")
    if not st.running:
        raise UserError(
            f"container '{name}' is not running",
            hint=f"start it: devbox dockeruser start-dev-container {name}",
        )
    argv = req.body.get("argv")
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
        raise UserError("exec needs a command", hint="devbox exec NAME -- COMMAND ...")
    user = req.text("user", "root") or "root"

    def out(chunk: bytes) -> None:
        req.emit({"event": "output", "data": base64.b64encode(chunk).decode()})

    code, _ = dc.exec_run(name, argv, user=user, on_output=out)
    return {"exit": code}


def checkout(req: Request, name: str) -> dict[str, Any]:
    from devbox.services import checkout_job, tenancy

    if not req.caller.admin:  # an admin checks out into any container's /opt, as before
        tenancy.require_container(req.cfg, req.caller, name, "check out into")
    with callers_p4(req) as own:
        return checkout_job.checkout_command(
            own.cfg,
            name,
            own.text("branch"),
            update=own.flag("update"),
            password=_password(own),
            reporter=own.reporter(f"checkout {name}"),
        )
