"""Base images: bootstrap a distribution from its mirror and import it into Docker.

``build_base(cfg, "debian-12")``: debootstrap (Debian/Ubuntu) or dnf/yum ``--installroot``
(RHEL-likes) into ``<root>/run/bootstrap/<name>/rootfs``, prepare it for systemd as PID 1,
stream it into the engine as ``base/<name>:<release>`` with labels, and skip all of that when
an image built from the same inputs is already there.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from devbox import __version__
from devbox.config import Config
from devbox.errors import NotReadyError, OperationFailed
from devbox.model import bootstrap_plan as plan
from devbox.model.record import Record
from devbox.oplog import OpLog
from devbox.paths import Layout
from devbox.resources import role_dir
from devbox.steps import JobSteps, Reporter, StepContext, bind, job_log, run_steps

# Placeholder work dir used when digesting rendered repo files, so the digest does not depend
# on where devbox's root happens to be.
_DIGEST_WORKDIR = Path("/devbox-bootstrap")


@dataclass
class BaseBuild(Record):
    name: str
    tag: str
    tags: list[str]
    digest: str
    image_id: str = ""
    skipped: bool = False
    seconds: float = 0.0
    steps: dict[str, float] = field(default_factory=dict)


def bases_dir() -> Path:
    return role_dir("containerauthor") / "bases"


def yum_dir(base: plan.BaseDef) -> Path:
    return role_dir("common") / "yum" / base.name


def load(name: str) -> plan.BaseDef:
    return plan.load_base(bases_dir(), plan.validate_name(name, "base name"))


def render_repo_files(base: plan.BaseDef, mirror: str, workdir: Path) -> dict[str, str]:
    """yum.conf and .repo files for a RHEL-like base, keyed by their path below ``workdir``."""
    if base.family != "rhel":
        return {}
    from devbox.adapters import templates

    ctx = plan.repo_context(base, mirror, workdir)
    out: dict[str, str] = {}
    for repo in plan.repo_templates(yum_dir(base)):
        rel = repo.name if repo.is_config else f"repos/{repo.name}"
        out[rel] = templates.render_file(repo.template, ctx)
    return out


def digest_for(cfg: Config, base: plan.BaseDef) -> str:
    mirror = plan.mirror_url(base, _settings(cfg))
    rendered = render_repo_files(base, mirror, _DIGEST_WORKDIR)
    return plan.inputs_digest(base, mirror, rendered)


def _settings(cfg: Config) -> dict[str, object]:
    return {s.name: v.value for s, v in cfg.items()}


def base_ref(cfg: Config, name: str) -> str:
    """The local tag of base ``name`` (``base/debian-12:bookworm``)."""
    return load(name).tag


@dataclass
class BaseJob:
    """What the steps of one build-base share: the request, and what the steps find out."""

    cfg: Config
    base: plan.BaseDef
    force: bool
    log: OpLog
    mirror: str = field(init=False)
    workdir: Path = field(init=False)
    target: Path = field(init=False)
    result: BaseBuild = field(init=False)

    def __post_init__(self) -> None:
        base = self.base
        self.mirror = plan.mirror_url(base, _settings(self.cfg))
        registry = self.cfg.text("registry.address")
        tags = plan.base_tags(base, registry)
        self.result = BaseBuild(base.name, base.tag, tags, digest_for(self.cfg, base))
        self.workdir = Layout(self.cfg.root).run / "bootstrap" / base.name
        self.target = self.workdir / "rootfs"


def check_inputs(job: BaseJob, ctx: StepContext) -> None:
    from devbox.adapters.docker import engine

    base, result = job.base, job.result
    labels = engine.image_labels(base.tag)
    ctx.info(f"inputs digest {result.digest}")
    if not job.force and plan.is_up_to_date(labels, result.digest):
        attrs = engine.image_attrs(base.tag) or {}
        result.image_id = str(attrs.get("Id", ""))
        result.skipped = True
        for extra in result.tags[1:]:
            engine.tag_image(base.tag, extra)
        ctx.skip(f"{base.tag} is up to date (same inputs)")


def check_mirror(job: BaseJob, ctx: StepContext) -> None:
    from devbox.adapters import bootstrap

    if job.result.skipped:
        ctx.skip("up to date")
    url = plan.probe_url(job.base, job.mirror)
    ctx.info(f"checking mirror {url}")
    bootstrap.check_mirror(url, job.base.mirror, mirror=job.mirror)


def bootstrap_rootfs(job: BaseJob, ctx: StepContext) -> None:
    from devbox.adapters import bootstrap
    from devbox.adapters.host import process

    if job.result.skipped:
        ctx.skip("up to date")
    base, workdir = job.base, job.workdir
    program, package = plan.required_program(base)
    try:
        process.require(program, package)
    except NotReadyError:
        if program != "yum":
            raise
        # Debian 12 has no yum package; dnf reads the same yum.conf and .repo files
        process.require("dnf", "dnf")
        program = "dnf"
    if workdir.exists():
        bootstrap.remove_tree(workdir)
    workdir.mkdir(parents=True)
    ctx.undo(f"remove {workdir}", lambda: bootstrap.remove_tree(workdir))
    rendered = render_repo_files(base, job.mirror, workdir)
    bootstrap.write_files({workdir / rel: text for rel, text in rendered.items()})
    argv = (
        plan.rpm_argv(base, job.target, workdir, program)
        if base.family == "rhel"
        else plan.bootstrap_argv(base, job.mirror, job.target, workdir)
    )
    count = [0]

    def on_line(line: str) -> None:
        count[0] += 1
        ctx.progress(count[0], None, line.strip()[:60])

    bootstrap.run_bootstrap(argv, log=job.log, on_line=on_line)


def prepare_for_systemd(job: BaseJob, ctx: StepContext) -> None:
    from devbox.adapters import bootstrap

    if job.result.skipped:
        ctx.skip("up to date")
    bootstrap.prepare_rootfs(job.target, plan.prepare_actions(job.base), log=job.log)


def import_into_docker(job: BaseJob, ctx: StepContext) -> None:
    from devbox.adapters import bootstrap
    from devbox.adapters.docker import engine

    base, result = job.base, job.result
    if result.skipped:
        ctx.skip("up to date")
    previous = engine.image_attrs(base.tag)
    built_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    labels = plan.base_labels(base, result.digest, built_at, __version__)
    total = bootstrap.tree_size(job.target)

    def on_bytes(sent: int) -> None:
        ctx.progress(min(sent, total), total, f"{sent >> 20} MiB")

    repo, tag = plan.split_tag(base.tag)
    result.image_id = engine.import_rootfs(
        bootstrap.tar_stream(job.target, on_bytes), repo, tag, plan.import_changes(labels)
    )
    if previous is not None and previous.get("Id") != result.image_id:
        ctx.undo(f"restore {base.tag}", lambda: engine.tag_image(str(previous["Id"]), base.tag))
    else:
        ctx.undo(f"remove {base.tag}", lambda: engine.remove_image(base.tag))
    for extra in result.tags[1:]:
        engine.tag_image(result.image_id, extra)
    if previous is not None and previous.get("Id") != result.image_id:
        try:
            engine.remove_image(str(previous["Id"]))
            ctx.info(f"removed the previous {base.tag} ({str(previous['Id'])[:19]})")
        except OperationFailed as err:
            ctx.info(f"kept the previous image {str(previous['Id'])[:19]}: {err}")


def clean_up(job: BaseJob, ctx: StepContext) -> None:
    from devbox.adapters import bootstrap

    if job.result.skipped:
        ctx.skip("up to date")
    bootstrap.remove_tree(job.workdir)


# build-base, step by step; the names are what the log, the progress display and the fault
# suite's kill points see
STEPS: JobSteps[BaseJob] = [
    ("check inputs", check_inputs),
    ("check mirror", check_mirror),
    ("bootstrap {job.base.distro} {job.base.release}", bootstrap_rootfs),
    ("prepare for systemd", prepare_for_systemd),
    ("import into Docker", import_into_docker),
    ("clean up", clean_up),
]


def build_base(
    cfg: Config,
    name: str,
    force: bool = False,
    reporter: Reporter | None = None,
    log: OpLog | None = None,
) -> BaseBuild:
    base = load(name)
    with job_log(log, Layout(cfg.root).host_log) as oplog:
        job = BaseJob(cfg, base, force, oplog)
        t0 = time.monotonic()
        res = run_steps(f"build-base {base.name}", bind(job, STEPS), oplog, reporter)
    job.result.seconds = time.monotonic() - t0
    job.result.steps = res.durations
    return job.result


def list_bases() -> list[plan.BaseDef]:
    return plan.list_bases(bases_dir())


def ensure_base(
    cfg: Config, name: str, reporter: Reporter | None = None, log: OpLog | None = None
) -> str:
    """The base's tag, building it first when it is missing (not when merely outdated)."""
    from devbox.adapters.docker import engine

    base = load(name)
    if engine.image_attrs(base.tag) is None:
        build_base(cfg, name, reporter=reporter, log=log)
    return base.tag


def describe(base: plan.BaseDef) -> dict[str, object]:
    return {
        "name": base.name,
        "description": base.description,
        "tag": base.tag,
        "family": base.family,
        "tool": base.tool,
        "mirror": base.mirror,
    }


__all__ = ["BaseBuild", "build_base", "ensure_base", "list_bases", "load"]
