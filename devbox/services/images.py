"""Dev images: render ``roles/containerauthor/images/<name>`` through ``templates/Dockerfile.j2``,
build with the engine (layer cache on), list, publish to the private registry, pull back.
"""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devbox import __version__
from devbox.config import Config
from devbox.errors import OperationFailed, UserError
from devbox.model import image_plan as plan
from devbox.model.bootstrap_plan import LABEL_PREFIX, BaseDef, split_tag
from devbox.model.record import Record
from devbox.oplog import NULL_LOG, OpLog
from devbox.paths import Layout
from devbox.resources import role_dir, templates_dir
from devbox.steps import JobSteps, Reporter, StepContext, bind, job_log, run_steps

ProgressFn = Callable[[float, float | None, str], None]


@dataclass
class ImageBuild(Record):
    name: str
    tag: str
    tags: list[str]
    digest: str
    image_id: str = ""
    skipped: bool = False
    netwait: bool = False
    seconds: float = 0.0
    steps: dict[str, float] = field(default_factory=dict)


@dataclass
class Publish(Record):
    name: str
    ref: str
    registry: str
    digest: str
    layers: int
    seconds: float


def images_dir() -> Path:
    return role_dir("containerauthor") / "images"


def netwait_dir() -> Path:
    return role_dir("common") / "netwait"


def shared_files_dir() -> Path:
    return role_dir("containerauthor") / "files"


def load(name: str, definitions: Path | None = None) -> plan.ImageDef:
    return plan.load_image(definitions or images_dir(), name)


def _registry(cfg: Config) -> str:
    from devbox.services import registry_site

    return registry_site.registry_address(cfg)


def render_context(
    image: plan.ImageDef, base_ref: str, family: str, image_dir: Path | None = None
) -> dict[str, bytes]:
    """Every file of the build context (path -> bytes), Dockerfile included."""
    from devbox.adapters import templates

    src_dir = image_dir or images_dir() / image.name
    nw_dir = netwait_dir()
    netwait_present = all((nw_dir / f).is_file() for f in plan.NETWAIT_FILES)
    ctx = plan.dockerfile_context(image, base_ref, family, netwait_present)
    files: dict[str, bytes] = {
        "Dockerfile": templates.render("Dockerfile.j2", ctx, [templates_dir()]).encode(),
    }
    if image.ssh:
        for shared in (plan.SSH_HOSTKEYS_UNIT, plan.SSH_EARLY_DROPIN):
            files[shared] = (shared_files_dir() / shared).read_bytes()
    if ctx["netwait"]:
        for name in plan.NETWAIT_FILES:
            files[name] = (nw_dir / name).read_bytes()
    for spec in image.files:
        path = src_dir / "files" / spec.src
        if not path.is_file():
            raise UserError(f"image {image.name}: file {spec.src} not found in {src_dir}/files")
        files[f"files/{spec.src}"] = path.read_bytes()
    return files


def context_tar(files: dict[str, bytes]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path in sorted(files):
            info = tarfile.TarInfo(path)
            info.size = len(files[path])
            info.mode = 0o755 if path.endswith("devbox-net-wait") else 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(files[path]))
    buf.seek(0)
    return buf


@dataclass
class ImageJob:
    """What the steps of one build-image share: the request, and what the steps find out."""

    cfg: Config
    image: plan.ImageDef
    image_dir: Path
    base: BaseDef
    force: bool
    nocache: bool
    log: OpLog
    result: ImageBuild
    base_id: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    previous: str = ""  # the image this build replaced


def check_base(job: ImageJob, ctx: StepContext) -> None:
    from devbox.adapters.docker import engine

    base = job.base
    attrs = engine.image_attrs(base.tag)
    if attrs is None:
        raise UserError(
            f"base image {base.tag} is missing",
            hint=f"build it first: devbox containerauthor build-base {base.name}",
        )
    job.base_id = str(attrs["Id"])
    ctx.info(f"base {base.tag} = {job.base_id[:19]}")


def render_build_context(job: ImageJob, ctx: StepContext) -> None:
    from devbox.adapters.docker import engine

    image, result = job.image, job.result
    job.files = render_context(image, job.base.tag, job.base.family, job.image_dir)
    result.netwait = plan.NETWAIT_FILES[0] in job.files
    if image.netwait and not result.netwait:
        ctx.info(f"network-wait helper not found in {netwait_dir()}: image built without it")
    result.digest = plan.context_digest(job.files, job.base_id)
    ctx.info(f"context: {len(job.files)} file(s), inputs digest {result.digest}")
    labels = engine.image_labels(image.tag)
    if (
        not job.force
        and not job.nocache
        and labels is not None
        and labels.get(f"{LABEL_PREFIX}inputs-digest") == result.digest
    ):
        result.skipped = True
        result.image_id = str((engine.image_attrs(image.tag) or {}).get("Id", ""))
        ctx.skip(f"{image.tag} is up to date (same inputs)")


def build(job: ImageJob, ctx: StepContext) -> None:
    from devbox.adapters.docker import engine

    image, base, result = job.image, job.base, job.result
    if result.skipped:
        ctx.skip("up to date")
    previous = engine.image_attrs(image.tag)
    built_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    labels = plan.image_labels(image, base.name, base.tag, result.digest, built_at, __version__)

    def on_event(event: dict[str, Any]) -> None:
        text = str(event.get("stream") or event.get("status") or "").rstrip()
        for line in text.splitlines():
            if not line.strip():
                continue
            job.log.write(f"  | {line}")
            step = plan.build_step(line)
            if step is not None:
                ctx.progress(step[0] - 1, step[1], step[2][:50])

    result.image_id = engine.build_stream(
        context_tar(job.files), image.tag, on_event, labels=labels, nocache=job.nocache
    )
    if previous is not None and previous.get("Id") != result.image_id:
        prev_id = str(previous["Id"])
        job.previous = prev_id
        ctx.undo(f"restore {image.tag}", lambda: engine.tag_image(prev_id, image.tag))
    elif previous is None:
        ctx.undo(f"remove {image.tag}", lambda: engine.remove_image(image.tag))


def tag(job: ImageJob, ctx: StepContext) -> None:
    from devbox.adapters.docker import engine

    image, tags, previous = job.image, job.result.tags, job.previous
    for extra in tags[1:]:
        engine.tag_image(image.tag, extra)
        ctx.info(f"tagged {extra}")
    if previous:
        # the image this build replaced: drop it unless containers or tags still use it
        try:
            engine.remove_image(previous)
            ctx.info(f"removed the previous {image.tag} ({previous[:19]})")
        except OperationFailed as err:
            ctx.info(f"kept the previous image {previous[:19]}: {err}")
    if len(tags) == 1 and not previous:
        ctx.skip("no registry configured")


# build-image, step by step; the names are what the log, the progress display and the fault
# suite's kill points see
STEPS: JobSteps[ImageJob] = [
    ("check base image", check_base),
    ("render build context", render_build_context),
    ("build {job.image.tag}", build),
    ("tag", tag),
]


def build_image(
    cfg: Config,
    name: str,
    force: bool = False,
    nocache: bool = False,
    reporter: Reporter | None = None,
    log: OpLog | None = None,
    definitions: Path | None = None,
    tag_registry: bool = True,
) -> ImageBuild:
    """Build ``devbox/<name>:latest`` from ``<definitions>/<name>/image.toml`` (default: the
    containerauthor images); skipped when an image from the same inputs exists."""
    from devbox.services import bases

    image = load(name, definitions)
    image_dir = (definitions or images_dir()) / image.name
    base = bases.load(image.base)
    with job_log(log, Layout(cfg.root).host_log) as oplog:
        registry = _registry(cfg) if tag_registry else ""
        result = ImageBuild(image.name, image.tag, plan.image_tags(image, registry), "")
        job = ImageJob(cfg, image, image_dir, base, force, nocache, oplog, result)
        t0 = time.monotonic()
        res = run_steps(f"build-image {image.name}", bind(job, STEPS), oplog, reporter)
    result.seconds = time.monotonic() - t0
    result.steps = res.durations
    return result


def list_images(cfg: Config) -> list[dict[str, Any]]:
    """Local devbox images (bases and images) with their labels."""
    from devbox.adapters.docker import engine

    rows: list[dict[str, Any]] = []
    for img in engine.list_images_labelled(f"{LABEL_PREFIX}kind"):
        labels = dict(img.get("Labels") or {})
        tags = sorted(t for t in (img.get("RepoTags") or []) if t != "<none>:<none>")
        rows.append(
            {
                "id": str(img.get("Id", ""))[:19],
                "tags": tags,
                "kind": labels.get(f"{LABEL_PREFIX}kind", ""),
                "name": labels.get(f"{LABEL_PREFIX}name") or labels.get(f"{LABEL_PREFIX}base", ""),
                "built": labels.get(f"{LABEL_PREFIX}time", ""),
                "version": labels.get(f"{LABEL_PREFIX}version", ""),
                "size_mb": round(int(img.get("Size", 0)) / 1e6, 1),
                "labels": {k: v for k, v in sorted(labels.items()) if k.startswith(LABEL_PREFIX)},
            }
        )
    rows.sort(key=lambda r: (r["kind"] != "base", r["tags"][0] if r["tags"] else r["id"]))
    return rows


def _layer_events(
    progress: ProgressFn | None, log: OpLog
) -> tuple[plan.LayerProgress, Callable[[dict[str, Any]], None]]:
    layers = plan.LayerProgress()
    last: dict[str, str] = {}

    def on_event(event: dict[str, Any]) -> None:
        if layers.update(event):
            layer = str(event.get("id"))
            status = str(event.get("status"))
            if last.get(layer) != status:
                last[layer] = status
                log.write(f"  | {layer}: {status}")
            cur, tot = layers.totals
            if progress is not None:
                progress(cur, tot or None, f"{layer[:12]} {status}; {layers.summary()}")
        elif event.get("status"):
            log.write(f"  | {event['status']}")

    return layers, on_event


@dataclass
class PublishJob:
    """What the steps of one publish share."""

    local: str
    log: OpLog
    result: Publish


def check_image(job: PublishJob, ctx: StepContext) -> None:
    from devbox.adapters.docker import engine

    if engine.image_attrs(job.local) is None:
        raise UserError(
            f"image {job.local} not found locally",
            hint=f"build it first: devbox containerauthor build-image {job.result.name}",
        )
    engine.tag_image(job.local, job.result.ref)
    ctx.info(f"tagged {job.result.ref}")


def push(job: PublishJob, ctx: StepContext) -> None:
    from devbox.adapters.docker import engine

    out = job.result
    layers, on_event = _layer_events(ctx.progress, job.log)
    repo, tag = split_tag(out.ref)
    out.digest = engine.push_stream(repo, tag, on_event)
    out.layers = len(layers.layers)
    if not out.digest:
        raise OperationFailed(f"push {out.ref}: the registry reported no digest")
    ctx.info(f"pushed {out.ref} {out.digest} ({layers.summary()})")


PUBLISH_STEPS: JobSteps[PublishJob] = [
    ("check image", check_image),
    ("push to {job.result.registry}", push),
]


def publish(
    cfg: Config, name: str, reporter: Reporter | None = None, log: OpLog | None = None
) -> Publish:
    """Push ``devbox/<name>:latest`` to the configured registry, with per-layer progress."""
    registry = _registry(cfg)
    if not registry:
        raise UserError(
            "no registry configured",
            hint="set registry.address (DEVBOX_REGISTRY_ADDRESS) or run 'devbox registryserver up'",
        )
    out = Publish(name, plan.image_ref(name, registry), registry, "", 0, 0.0)
    t0 = time.monotonic()
    with job_log(log, Layout(cfg.root).host_log) as oplog:
        job = PublishJob(plan.image_ref(name), oplog, out)
        run_steps(f"publish {name}", bind(job, PUBLISH_STEPS), oplog, reporter)
    out.seconds = time.monotonic() - t0
    return out


def ensure_image(
    cfg: Config, image: str, progress: ProgressFn | None = None, log: OpLog | None = None
) -> str:
    """The local reference of ``image`` (``dev`` or a full ref), pulled from the configured
    registry (with per-layer progress) unless it is already present. Returns the local ref."""
    from devbox.adapters.docker import engine

    oplog = log or NULL_LOG
    local = plan.image_ref(image)
    if engine.image_attrs(local) is not None:
        return local
    registry = _registry(cfg)
    if not registry:
        raise UserError(
            f"image {local} is not here and no registry is configured",
            hint="build it: devbox containerauthor build-image "
            f"{_short_name(image)}, or set registry.address",
        )
    remote = plan.image_ref(image, registry)
    _layers, on_event = _layer_events(progress, oplog)
    repo, tag = split_tag(remote)
    oplog.write(f"pulling {remote}")
    try:
        image_id = engine.pull_stream(repo, tag, on_event)
    except OperationFailed as err:
        raise OperationFailed(err.message, hint=err.hint or _pull_hint(registry)) from err
    engine.tag_image(image_id, local)
    return local


def _pull_hint(registry: str) -> str:
    return (
        f"is the registry up ('devbox registryserver status' on its host)? this host needs "
        f"devbox's CA in /etc/docker/certs.d/{registry}/ca.crt and a login: docker login {registry}"
    )


def resolve_ref(cfg: Config, image: str) -> str:
    """The local reference for an image name: ``dev`` -> ``devbox/dev:latest``; a full
    reference (``repo/name:tag``, ``REG:PORT/devbox/dev:latest``) is kept as given."""
    return plan.image_ref(image)


def ensure_present(
    cfg: Config, ref: str, log: OpLog | None = None, progress: ProgressFn | None = None
) -> bool:
    """Make sure image ``ref`` is in the engine, pulling it from the configured registry with
    per-layer progress when it is not. True when it was pulled."""
    from devbox.adapters.docker import engine

    local = plan.image_ref(ref)
    if engine.image_attrs(local) is not None:
        return False
    ensure_image(cfg, ref, progress=progress, log=log)
    return True


def os_image_for(os_name: str) -> str:
    """The image name of the vanilla OS image for base ``os_name`` (``debian-12`` -> ``os``).

    An image definition ``os-<base>`` wins; else ``os`` when its base is ``os_name``.
    """
    defs = {d.name: d for d in plan.list_image_defs(images_dir())}
    specific = f"os-{os_name}"
    if specific in defs:
        return specific
    if "os" in defs and defs["os"].base == os_name:
        return "os"
    have = sorted({d.base for n, d in defs.items() if n == "os" or n.startswith("os-")})
    raise UserError(
        f"no OS image for {os_name!r}",
        hint=f"OS images exist for: {', '.join(have) or 'none'}; add "
        f"roles/containerauthor/images/os-{os_name}/image.toml",
    )


def _short_name(image: str) -> str:
    """``devbox/os:latest`` -> ``os`` (the name build-image takes); others unchanged."""
    repo = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    if repo.startswith("devbox/"):
        return repo.split("/", 1)[1]
    return image
