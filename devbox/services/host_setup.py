"""``devbox common setup``: bring a Debian host to what devbox needs (the host admin's
bootstrap, run as root before the devbox service exists).

:func:`survey` gathers the facts, ``model/host_setup_plan.plan`` decides (pure), and
:func:`apply` runs one step per part of the plan (``STEPS``), each re-checking its own part
first so a step another one already took care of (the docker.io package starts its engine
under systemd) does nothing. Nothing is undone on failure: what was installed stays, and a
second run does only what is still missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from devbox.adapters.host import debian
from devbox.config import Config
from devbox.errors import NotReadyError, OperationFailed
from devbox.model import host_setup_plan as hsp
from devbox.oplog import OpLog
from devbox.paths import Layout
from devbox.services import daemon_control
from devbox.steps import JobSteps, Reporter, StepContext, StepsResult, bind, run_steps
from devbox.waits import poll

SYSTEM_UNIT_DIR = Path("/etc/systemd/system")
DOCKERD_TIMEOUT = 60.0


def wanted(cfg: Config) -> hsp.Wanted:
    return hsp.Wanted(
        unit_text=daemon_control.unit_text(cfg),
        groups=(cfg.text("service.group"), cfg.text("service.admin_group")),
    )


def docker_answers() -> bool:
    from devbox.adapters.docker import engine

    try:
        engine.reset_client()
        engine.client()
    except NotReadyError:
        return False
    return True


def survey(cfg: Config, unit_dir: Path = SYSTEM_UNIT_DIR) -> hsp.HostFacts:
    """What the host has now (reads only)."""
    want = wanted(cfg)
    unit_path = unit_dir / daemon_control.UNIT_NAME
    return hsp.HostFacts(
        installed=debian.installed(want.packages),
        docker_answers=docker_answers(),
        sysctls={name: debian.sysctl_value(name) for name in want.sysctls},
        groups=debian.groups_present(want.groups),
        unit_path=str(unit_path),
        unit_text=debian.read_file(unit_path),
    )


def plan(cfg: Config, unit_dir: Path = SYSTEM_UNIT_DIR) -> hsp.HostSetupPlan:
    return hsp.plan(survey(cfg, unit_dir), wanted(cfg))


@dataclass
class SetupJob:
    cfg: Config
    plan: hsp.HostSetupPlan
    unit_dir: Path
    log: OpLog
    unit_started: bool = False


def _skip_if_done(job: SetupJob, step: str, ctx: StepContext) -> None:
    task = job.plan.task(step)
    if not task.todo:
        ctx.skip(task.done)


def _packages(job: SetupJob, ctx: StepContext) -> None:
    _skip_if_done(job, hsp.PACKAGES, ctx)
    missing = [p for p in job.plan.packages if p not in debian.installed(job.plan.packages)]
    if not missing:
        ctx.skip("every package installed")
    done: set[str] = set()
    ctx.progress(0, len(missing), "apt-get update")

    def line(text: str) -> None:
        words = text.split()
        if words[:2] == ["Setting", "up"] and len(words) > 2:
            done.add(words[2].split(":", 1)[0])
            ctx.progress(len(done & set(missing)), len(missing), text[:60])

    debian.apt_install(missing, job.log, on_line=line)
    left = [p for p in missing if p not in debian.installed(missing)]
    if left:
        raise OperationFailed(
            f"apt-get did not install {', '.join(left)}", hint=f"see {job.log.path}"
        )
    ctx.progress(len(missing), len(missing), f"installed {len(missing)}")


def _dockerd(job: SetupJob, ctx: StepContext) -> None:
    _skip_if_done(job, hsp.DOCKERD, ctx)
    if docker_answers():  # never a second engine: its package may have started it
        ctx.skip("a Docker engine answers")
    how = debian.start_dockerd(job.log)
    ctx.info(f"started {how}")
    if not poll(docker_answers, DOCKERD_TIMEOUT, 0.5):
        raise OperationFailed(
            f"the Docker engine did not answer within {DOCKERD_TIMEOUT:g}s of: {how}",
            hint=f"see {debian.DOCKERD_LOG} or 'journalctl -u docker'",
        )


def _sysctl(job: SetupJob, ctx: StepContext) -> None:
    _skip_if_done(job, hsp.SYSCTL, ctx)
    values = {**hsp.SYSCTLS, **job.plan.sysctls}
    debian.write_file(Path(hsp.SYSCTL_FILE), hsp.sysctl_file_text(values))
    for name, value in job.plan.sysctls.items():
        if debian.sysctl_value(name) >= value:
            continue
        try:
            debian.set_sysctl(name, value)
        except OSError as err:
            raise OperationFailed(
                f"cannot set {name} = {value}: {err.strerror or err}",
                hint=f"it is in {hsp.SYSCTL_FILE} for the next boot; 'sysctl --system' loads it",
            ) from None
        ctx.info(f"{name} = {value}")


def _groups(job: SetupJob, ctx: StepContext) -> None:
    _skip_if_done(job, hsp.GROUPS, ctx)
    for name in job.plan.groups:
        if name not in debian.groups_present([name]):
            debian.add_group(name, job.log)


def _unit(job: SetupJob, ctx: StepContext) -> None:
    _skip_if_done(job, hsp.UNIT, ctx)
    path, started = daemon_control.install(job.cfg, job.unit_dir)
    job.unit_started = started
    ctx.info(f"wrote {path}" + (" and started it" if started else ""))


STEPS: JobSteps[SetupJob] = (
    (hsp.PACKAGES, _packages),
    (hsp.DOCKERD, _dockerd),
    (hsp.SYSCTL, _sysctl),
    (hsp.GROUPS, _groups),
    (hsp.UNIT, _unit),
)


def apply(
    cfg: Config,
    the_plan: hsp.HostSetupPlan,
    unit_dir: Path = SYSTEM_UNIT_DIR,
    reporter: Reporter | None = None,
) -> tuple[StepsResult, bool]:
    """Carry out ``the_plan``; (the steps' result, whether systemd started the unit)."""
    with OpLog(Layout(cfg.root).host_log) as log:
        job = SetupJob(cfg, the_plan, unit_dir, log)
        result = run_steps("common setup", bind(job, STEPS), log, reporter)
    return result, job.unit_started
