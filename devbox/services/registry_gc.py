"""Garbage collection of the private registry's storage."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

from devbox.adapters.docker import containers as dc
from devbox.config import Config
from devbox.errors import NotReadyError, OperationFailed
from devbox.model import registry_plan as plan
from devbox.oplog import OpLog
from devbox.paths import Layout
from devbox.services.registry_site import (
    _du,
    _image,
    _test_label,
    _volumes,
    _wait_ready,
    serve_address,
    server_paths,
)
from devbox.steps import Reporter, Step, StepContext, run_steps


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
    from devbox.adapters.docker import engine

    name = str(cfg["registry.name"])
    paths = server_paths(cfg)
    if not paths.config.exists():
        raise NotReadyError("no registry here yet", hint="run 'devbox registryserver up' first")
    attrs = engine.container_attrs(name)
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
        kwargs = plan.gc_kwargs(
            name=job, image=image, binary=binary, vols=_volumes(cfg), labels=_test_label(cfg)
        )
        engine.run_container(kwargs)
        try:
            code, output = engine.wait_container(job, timeout=1800)
        finally:
            dc.remove(job)
        for line in output.splitlines():
            oplog.write(f"  | {line}")
        if code != 0:
            tail = output.strip().splitlines()[-1:] or [""]
            raise OperationFailed(
                f"garbage-collect exited with {code}: {tail[0]}", hint=f"log: {oplog.path}"
            )
        marked, out.blobs_deleted, manifests = plan.parse_gc_output(output)
        ctx.note = (
            f"{marked} blob(s) in use, {out.blobs_deleted} blob(s) and {manifests} "
            "manifest(s) deleted"
        )

    def start(ctx: StepContext) -> None:
        if not was_running:
            ctx.skip("registry was not running")
        dc.start(name)
        _wait_ready(cfg, name, str(serve_address(cfg)))

    try:
        run_steps(
            "registryserver gc",
            [
                Step("stop the registry", stop),
                Step("garbage-collect", collect),
                Step("start the registry", start),
            ],
            oplog,
            reporter,
        )
    finally:
        if own_log:
            oplog.close()
    out.bytes_after = _du(storage)
    out.seconds = time.monotonic() - t0
    return out
