"""Garbage collection of the private registry's storage."""

from __future__ import annotations

import time
from dataclasses import dataclass

from devbox.adapters.docker import containers as dc
from devbox.adapters.host.diskusage import disk_usage
from devbox.config import Config
from devbox.errors import NotReadyError, OperationFailed
from devbox.model import registry_plan as plan
from devbox.model.record import Record
from devbox.oplog import OpLog
from devbox.paths import Layout
from devbox.services.registry_site import (
    registry_image,
    serve_address,
    server_paths,
    test_label,
    volumes,
    wait_ready,
)
from devbox.steps import JobSteps, Reporter, StepContext, bind, job_log, run_steps


@dataclass
class GcResult(Record):
    was_running: bool
    blobs_deleted: int
    bytes_before: int
    bytes_after: int
    seconds: float


@dataclass
class GcJob:
    """What the steps of one ``registryserver gc`` share."""

    cfg: Config
    name: str
    log: OpLog
    result: GcResult


def stop_registry(job: GcJob, ctx: StepContext) -> None:
    name = job.name
    if not job.result.was_running:
        ctx.skip("registry not running")
    dc.stop(name, timeout=10)
    ctx.undo(f"start {name} again", lambda: dc.start(name))


def collect(job: GcJob, ctx: StepContext) -> None:
    from devbox.adapters.docker import engine

    image, binary = registry_image(job.cfg)
    collector = f"{job.name}-gc"
    dc.remove(collector)
    kwargs = plan.gc_kwargs(
        name=collector,
        image=image,
        binary=binary,
        vols=volumes(job.cfg),
        labels=test_label(job.cfg),
    )
    engine.run_container(kwargs)
    try:
        code, output = engine.wait_container(collector, timeout=1800)
    finally:
        dc.remove(collector)
    for line in output.splitlines():
        job.log.write(f"  | {line}")
    if code != 0:
        tail = output.strip().splitlines()[-1:] or [""]
        raise OperationFailed(
            f"garbage-collect exited with {code}: {tail[0]}", hint=f"log: {job.log.path}"
        )
    marked, job.result.blobs_deleted, manifests = plan.parse_gc_output(output)
    ctx.note = (
        f"{marked} blob(s) in use, {job.result.blobs_deleted} blob(s) and {manifests} "
        "manifest(s) deleted"
    )


def start_registry(job: GcJob, ctx: StepContext) -> None:
    if not job.result.was_running:
        ctx.skip("registry was not running")
    dc.start(job.name)
    wait_ready(job.cfg, job.name, str(serve_address(job.cfg)))


# registryserver gc, step by step
STEPS: JobSteps[GcJob] = [
    ("stop the registry", stop_registry),
    ("garbage-collect", collect),
    ("start the registry", start_registry),
]


def gc(cfg: Config, reporter: Reporter | None = None, log: OpLog | None = None) -> GcResult:
    """Garbage-collect the registry's storage with the server stopped, then start it again."""
    from devbox.adapters.docker import engine

    name = cfg.text("registry.name")
    paths = server_paths(cfg)
    if not paths.config.exists():
        raise NotReadyError("no registry here yet", hint="run 'devbox registryserver up' first")
    attrs = engine.container_attrs(name)
    was_running = bool(attrs and (attrs.get("State") or {}).get("Running"))
    storage = cfg.path("registry.storage")
    out = GcResult(was_running, 0, disk_usage(storage, one_filesystem=False), 0, 0.0)
    t0 = time.monotonic()
    with job_log(log, Layout(cfg.root).host_log) as oplog:
        run_steps("registryserver gc", bind(GcJob(cfg, name, oplog, out), STEPS), oplog, reporter)
    out.bytes_after = disk_usage(storage, one_filesystem=False)
    out.seconds = time.monotonic() - t0
    return out
