"""Making a dev or OS container: ``make`` is the old make-dev-container as the named steps of
:data:`STEPS`, each logged to ``<root>/logs/<name>.log``, shown as progress and undone in
reverse when a later step fails.
User data in /opt is never deleted by an undo: only a tree this very make created is removed.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from devbox.adapters import ssh
from devbox.adapters.docker import containers as dc
from devbox.config import Config
from devbox.errors import UserError
from devbox.locks import name_lock
from devbox.model import container_plan, labels
from devbox.model import limits as limits_mod
from devbox.model.container_plan import MakeOptions, MakeResult, require_this_root
from devbox.model.limits import Limits
from devbox.model.naming import validate_name
from devbox.oplog import OpLog
from devbox.paths import Layout
from devbox.services.make_steps import (
    MakeJob,
    attach_network,
    checkout,
    create_container,
    ensure_image,
    install_keys,
    install_license,
    prepare_opt,
    wait_for_ssh,
    write_ssh_config,
)
from devbox.state.container_records import devbox_key, known_hosts, read_state, write_state
from devbox.steps import Reporter, Step, StepContext, run_steps

if TYPE_CHECKING:
    from devbox.branches import Branch

# a check of the limits new containers would get, before anything is made (a quota)
Admit = Callable[[list[Limits]], None]

# make-dev-container, step by step (the functions are in devbox.services.make_steps); the
# names are what the log, the progress display and the fault suite's kill points see
STEPS: list[tuple[str, Callable[[MakeJob, StepContext], None]]] = [
    ("prepare /opt", prepare_opt),
    ("image", ensure_image),
    ("start container", create_container),
    ("attach LAN (DHCP)", attach_network),
    ("wait for sshd", wait_for_ssh),
    ("install SSH keys", install_keys),
    ("install license", install_license),
    ("check out branch", checkout),
    ("SSH config entry", write_ssh_config),
]


def steps_for(job: MakeJob, extra_steps: tuple[Step, ...] = ()) -> list[Step]:
    """:data:`STEPS` bound to ``job``, with ``extra_steps`` before the SSH config entry."""
    steps = [Step(name, functools.partial(run, job)) for name, run in STEPS]
    steps[-1:-1] = list(extra_steps)
    return steps


def resolve_branch(cfg: Config, opts: MakeOptions) -> Branch | None:
    """The branch map entry for a dev container's branch (UserError with close matches when
    unknown); None for kinds without a branch (os)."""
    if opts.kind == "os":
        return None
    from devbox import branches

    return branches.for_config(cfg).resolve(opts.branch)


def _converge(cfg: Config, name: str, log: OpLog) -> None:
    """Before a make: finish off what an interrupted or killed make of ``name`` left behind."""
    from devbox.state import migrate

    layout = Layout(cfg.root)
    migrate.ensure(layout)
    existing = dc.inspect(name)
    state = read_state(layout, name)
    if existing is not None and existing.labels.get(labels.ROLE) is None:
        raise UserError(
            f"a container named '{name}' exists and was not made by devbox",
            hint="pick another name, or remove it with docker rm",
        )
    if existing is not None:
        # another root's container is never touched
        require_this_root(cfg, existing.name, existing.labels)
    if existing is not None and state.get("ready"):
        raise UserError(
            f"container '{name}' already exists",
            hint=f"start it with 'devbox dockeruser start-dev-container {name}' or "
            f"remove it with 'devbox dockeruser remove-dev-container {name}'",
        )
    if existing is not None and not state.get("making"):
        # labelled with this root, but no record that a make of this root began it (a lost
        # state file): it may be live and in use, so it is not "half-made"
        raise UserError(
            f"container '{name}' exists but this devbox root has no record of "
            "making it; not touching it",
            hint=f"remove it with 'devbox dockeruser remove-dev-container {name}', "
            "or pick another name",
        )
    if existing is None:
        write_state(layout, name, making=time.time(), ready=False)
        return
    if existing is not None:
        log.write(f"cleaning up a half-made '{name}' left by an interrupted make")
        from devbox.services import network

        try:
            network.detach(cfg, name, log=log)
        except Exception as err:  # noqa: BLE001 - best effort; the container goes anyway
            log.write(f"detach during cleanup failed: {err}")
        dc.remove(name)


def plan_limits(cfg: Config, opts: MakeOptions, branch: Branch | None) -> Limits:
    """The limits a new container gets: settings < branch map < what ``opts`` asks for
    (flags, over a product map's); refused (exit 2) when the host cannot give them."""
    from devbox.adapters.host import procfs

    layers = [branch.limits] if branch is not None else []
    return limits_mod.resolve(limits_mod.settings_of(cfg), procfs.host_size(), *layers, opts.limits)


def _preload() -> None:
    """Import what the later steps need while the first ones wait on Docker (saves ~0.3 s of a
    ~1.5 s make on a 2-core host)."""
    try:
        from devbox.adapters.net import dhcp, netlink  # noqa: F401

        ssh.preload()
        netlink.preload()
        from devbox.services import checkout, daemon, network  # noqa: F401
    except Exception:  # noqa: BLE001 - the steps import (and report) it again
        pass


def _room_check(name: str) -> Callable[[], None]:
    """The host's inotify room for one more systemd, counted in a thread from now on (it
    reads every root process's descriptors: ~40 ms on a quiet host, more on a busy one) and
    checked before the container starts (a refusal rolls back what the make made so far)."""
    from concurrent.futures import ThreadPoolExecutor

    from devbox.adapters.host import procfs
    from devbox.model import capacity

    pool = ThreadPoolExecutor(1, thread_name_prefix="inotify-room")
    counted = pool.submit(procfs.inotify_room)
    pool.shutdown(wait=False)  # the count goes on; the pool takes no more
    return lambda: capacity.require_room(counted.result(), 1, f"making {name}")


def make(
    cfg: Config,
    opts: MakeOptions,
    reporter: Reporter | None = None,
    extra_steps: tuple[Step, ...] = (),
    password: Callable[[], str] | None = None,
    admit: Admit | None = None,
) -> MakeResult:
    """Make a dev (or OS) container; see the module docstring.

    ``extra_steps`` run after the checkout, before the SSH config entry (combos apply their
    patches there); they are undone with the rest on failure. ``password`` is asked for only
    when a Perforce login is needed. ``admit`` gets the planned limits before anything is
    made and may refuse them (the service's per-user quota)."""
    validate_name(opts.name)
    branch = resolve_branch(cfg, opts)  # a bad or unknown branch fails before anything is made
    opts = replace(opts, limits=plan_limits(cfg, opts, branch))  # so do limits past the host
    if admit is not None:
        admit([opts.limits])
    import threading

    threading.Thread(target=_preload, name="preload", daemon=True).start()
    layout = Layout(cfg.root)
    log_path = layout.container_log(opts.name)
    with name_lock(layout.locks, opts.name, "making"), OpLog(log_path) as log:
        _converge(cfg, opts.name, log)
        job = MakeJob(cfg, opts, log, branch, password, before_start=_room_check(opts.name))
        title = f"make-{opts.kind}-container {opts.name}"
        result = run_steps(
            title,
            steps_for(job, extra_steps),
            log,
            reporter,
            cleanup_hint=(f"devbox dockeruser remove-dev-container {opts.name}"),
        )
        write_state(
            layout,
            opts.name,
            ready=True,
            kind=opts.kind,
            branch=opts.branch,
            image=job.image,
            ip=job.ip,
            mac=job.mac,
            revision=job.revision,
            made=time.time(),
        )
        for warning in job.warnings:
            log.write(f"warning: {warning}")
    return MakeResult(
        name=opts.name,
        ip=job.ip,
        mac=job.mac,
        image=job.image,
        ssh_command=container_plan.ssh_command(opts.name),
        opt_dir=str(job.opt_dir),
        log=str(log_path),
        seconds=result.seconds,
        durations=result.durations,
        warnings=job.warnings,
        revision=job.revision,
        user=job.user,
        host_keys=list(job.host_keys),
        proxy_command=job.proxy_command,
        identity_file=str(devbox_key(layout)),
        known_hosts=str(known_hosts(layout)),
    )
