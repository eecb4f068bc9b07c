"""A dev container after its make: list, start, stop, remove, exec, ssh."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from devbox import jsonfile
from devbox.adapters import ssh
from devbox.adapters.docker import containers as dc
from devbox.adapters.host import diskusage
from devbox.config import Config
from devbox.errors import DevboxError, OperationFailed, UserError
from devbox.locks import name_lock
from devbox.model import container_plan, labels, owners
from devbox.model import limits as limits_mod
from devbox.model.container_plan import MakeResult, require_this_root, same_root
from devbox.model.naming import validate_name
from devbox.oplog import OpLog
from devbox.paths import Layout
from devbox.services import devbox_container
from devbox.state.container_records import (
    clear_state,
    home_dir,
    known_hosts,
    read_state,
    write_state,
)
from devbox.steps import Reporter, Step, StepContext, run_steps

if TYPE_CHECKING:
    pass


def exited_hint(name: str) -> str:
    """Why a systemd container may exit at once: most often the host ran out of inotify
    instances (systemd then exits with status 255 and logs nothing)."""
    from devbox.adapters.host import procfs
    from devbox.model import capacity

    room = procfs.inotify_room()
    if room.containers < 2:  # the failed one gave its instances back: "about none left"
        return f"the host is out of inotify instances ({room.describe()}): {capacity.FIX}"
    return f"docker logs {name}"


@dataclass
class ContainerRow:
    name: str
    kind: str
    branch: str
    state: str
    ip: str
    mac: str
    image: str
    created: str
    opt_bytes: int | None
    clone_of: str = ""
    product: str = ""
    release: str = ""
    patches: str = ""
    limits: dict[str, Any] = field(default_factory=dict)  # memory (bytes), cpus, pids
    owner: str = "root"
    owner_uid: int = 0
    ipv6: list[str] = field(default_factory=list)  # global/ULA, read from the kernel
    idle_seconds: int | None = None  # idle stop's count; None: not tracked (off, not running)
    keep_running: bool = False  # made with --keep-running: never idle-stopped

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def list_containers(
    cfg: Config, include_stopped: bool = True, with_size: bool = True
) -> list[ContainerRow]:
    """Every devbox container of this root, in one pass: one container list of the engine
    (labels and state, no inspect per container), one read of the lease store, and devbox's
    own record of a container only when the store has no address for it (a stopped one).
    ``with_size``: also measure each /opt (a walk of its tree: the one part that grows with
    what is in them; ``--no-size`` leaves it out)."""
    from devbox.adapters.net import addresses6
    from devbox.services import nic, pause_guard
    from devbox.state import idle_records, migrate

    pause_guard.resume_all(cfg)  # sources a killed clone left paused (one stat if none)
    states = [
        st
        for st in dc.list_summaries(labels.ROLE, all_states=include_stopped)
        if same_root(st.labels.get(labels.ROOT, ""), cfg.root)
    ]
    addresses = {r.container: r for r in nic.store(cfg).all()}
    layout = Layout(cfg.root)
    idle = idle_records.idle_seconds(layout, time.time())
    # IPv6 (SLAAC) from the kernel's table of each running one's netns, never a file of its
    running = {s.name for s in states if s.status == "running"}
    ipv6 = addresses6.table_of(
        [(r.container, r.pid, r.ifname) for r in addresses.values() if r.container in running]
    )
    rows = []
    for st in sorted(states, key=lambda s: s.name):
        lb = st.labels
        att = addresses.get(st.name)
        if att is not None and att.container_id != st.id:
            att = None  # another container's record (same name, since replaced)
        # the /opt size and the MAC from devbox's own records, not from labels
        mac = att.mac if att is not None else str(read_state(layout, st.name).get("mac") or "")
        owner, owner_uid = owners.owner_of(lb)
        opt_bytes = None
        if with_size:
            opt = migrate.record_dir(layout, st.name) / "opt"
            opt_bytes = diskusage.disk_usage(opt, one_filesystem=False) if opt.is_dir() else None
        rows.append(
            ContainerRow(
                name=st.name,
                kind=lb.get(labels.KIND, "dev"),
                branch=lb.get(labels.BRANCH, ""),
                state=st.status,
                ip=(att.ip if att and att.ip else ""),
                mac=mac,
                image=lb.get(labels.IMAGE, st.image),
                created=st.created[:19].replace("T", " "),
                opt_bytes=opt_bytes,
                clone_of=lb.get(labels.CLONE_OF, ""),
                product=lb.get(labels.PRODUCT, ""),
                release=lb.get(labels.RELEASE, ""),
                patches=lb.get(labels.PATCHES, ""),
                limits=limits_mod.from_labels(lb).to_dict(),
                owner=owner,
                owner_uid=owner_uid,
                ipv6=ipv6.get(st.name, []) if att is not None else [],
                idle_seconds=_idle_of(idle, st.name, st.id, st.status),
                keep_running=labels.keeps_running(lb),
            )
        )
    return rows


def _idle_of(idle: dict[str, tuple[str, int]], name: str, cid: str, status: str) -> int | None:
    got = idle.get(name)
    return got[1] if got is not None and got[0] == cid and status == "running" else None


def start(cfg: Config, name: str, reporter: Reporter | None = None) -> MakeResult:
    from devbox.services import daemon_control, host_reach, network
    from devbox.state import migrate

    st = devbox_container.require(name, cfg)
    layout = Layout(cfg.root)
    migrate.ensure(layout)
    with name_lock(layout.locks, name, "starting"), OpLog(layout.container_log(name)) as log:
        t0 = time.monotonic()
        ip = ""
        mac = ""

        def do_start(ctx: StepContext) -> None:
            # a clone's /opt overlay is not mounted again after a host reboot by anyone else
            from devbox.services import clone_storage

            if not st.running:  # before any overlay goes back below it
                migrate.protect_store(layout, log)
            if clone_storage.ensure_mounted_before_start(cfg, name, st.running):
                ctx.info("mounted the clone's /opt overlay again")
            if st.running:
                ctx.skip("already running")
            dc.start(name)

        def do_net(ctx: StepContext) -> None:
            nonlocal ip, mac
            daemon_control.ensure_running(cfg)
            att = network.wait_attached(cfg, name, timeout=cfg.number("dhcp_timeout") + 20, log=log)
            if not att.ip:
                raise OperationFailed(f"{name} got no LAN address")
            ip, mac = att.ip, att.mac
            ctx.note = ip

        def do_ssh(ctx: StepContext) -> None:
            seconds = ssh.wait_for_banner(
                ip,
                22,
                timeout=cfg.number("ssh_timeout"),
                connect=host_reach.host_connector(cfg, name),
            )
            ctx.note = f"sshd answered after {seconds:.2f}s"

        result = run_steps(
            f"start-dev-container {name}",
            [
                Step("start container", do_start),
                Step("LAN address", do_net),
                Step("wait for sshd", do_ssh),
            ],
            log,
            reporter,
        )
        state = read_state(layout, name)
        if state.get("ip") and state["ip"] != ip:
            log.write(f"note: address changed from {state['ip']} to {ip}")
        write_state(layout, name, ip=ip)
    return MakeResult(
        name=name,
        ip=ip,
        mac=mac,
        image=st.labels.get(labels.IMAGE, st.image),
        ssh_command=container_plan.ssh_command(name),
        opt_dir=str(migrate.record_dir(layout, name) / "opt"),
        log=str(layout.container_log(name)),
        seconds=time.monotonic() - t0,
        durations=result.durations,
    )


def stop(cfg: Config, name: str) -> None:
    from devbox.state import migrate

    st = devbox_container.require(name, cfg)
    layout = Layout(cfg.root)
    migrate.ensure(layout)
    with name_lock(layout.locks, name, "stopping"), OpLog(layout.container_log(name)) as log:
        if not st.running:
            raise UserError(f"container '{name}' is not running")
        t0 = time.monotonic()
        dc.stop(name)
        log.write(f"stopped in {time.monotonic() - t0:.2f}s")


@dataclass
class RemoveResult:
    name: str
    opt_kept: str | None
    purged: bool
    removed_container: bool


def remove(
    cfg: Config,
    name: str,
    purge: bool = False,
    force: bool = False,
    *,
    inspected: dc.ContainerState | Literal["ask"] | None = "ask",
    forget_later: list[str] | None = None,
) -> RemoveResult:
    """For ``remove --clones-of``: ``inspected``, what ``dc.inspect(name)`` just said;
    ``forget_later`` gets the known_hosts names to drop, for one rewrite for all clones."""
    from devbox.adapters.host import sshconfig
    from devbox.services import network
    from devbox.state import migrate

    validate_name(name)
    layout = Layout(cfg.root)
    migrate.ensure(layout)
    st = dc.inspect(name) if inspected == "ask" else inspected
    if st is not None and st.labels.get(labels.ROLE) is None:
        raise UserError(f"container '{name}' was not made by devbox; not removing it")
    if st is not None:
        require_this_root(cfg, st.name, st.labels)
        from devbox.services import pause_guard

        pause_guard.resume_abandoned(cfg, name)  # a killed clone left it paused
    # only a devbox container of this root, or devbox's own record of one (its dir in the
    # containers/ subtree, e.g. after a docker rm): never any other path under <root>
    if st is None and not os.path.lexists(migrate.record_dir(layout, name)):
        raise UserError(
            f"no container named '{name}' in devbox root {cfg.root}",
            hint="list them with 'devbox dockeruser list-containers'",
        )
    with name_lock(layout.locks, name, "removing"), OpLog(layout.container_log(name)) as log:
        _remove_workspace(cfg, name, force, log)
        try:
            network.detach(cfg, name, log=log)
        except UserError as err:
            log.write(f"detach: {err}")
        # also when it is gone already (a remove killed half-way): drops its cgroup dirs
        removed = dc.remove(name)
        if st is not None and st.image.startswith("devbox-move/"):  # a moved one's own commit
            _drop_image(st.image, log)
        # the container is gone: a legacy <root>/<name> dir can move into containers/ now
        migrate.adopt_legacy(layout, name)
        if cfg.flag("ssh.write_config"):  # else the client removes its own entry
            sshconfig.remove_entry(home_dir(cfg), name)
        try:
            state = read_state(layout, name)
        except jsonfile.CorruptRecord as err:  # it goes below anyway
            log.write(f"{err.message}; removing it")
            state = {}
        names = [name] + ([state["ip"]] if state.get("ip") else [])
        if forget_later is None:
            ssh.forget_host(known_hosts(layout), names)
        else:
            forget_later.extend(names)
        clear_state(layout, name)
        # a clone's /opt is an overlay mount: unmount it (and with --purge drop its upper
        # layer and any snapshot nothing uses any more) -- devbox.services.clone
        from devbox.services import clone_storage

        clone_storage.release_storage(cfg, name, purge=purge, log=log)
        log.write(
            f"removed container {name}"
            + ("; purging its /opt" if purge else f"; kept {layout.opt_dir(name)}")
        )
    if purge:
        # its snapshots' images (the /opt copies go with the folder); kept without --purge
        from devbox.adapters.docker import recreate
        from devbox.model import snapshot_plan

        recreate.remove_images(
            *snapshot_plan.image_filters(name, str(cfg.root)),
            repository=snapshot_plan.image_repository(name),
        )
        target = layout.container_dir(name)
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        return RemoveResult(name, None, True, removed)
    opt = layout.opt_dir(name)
    return RemoveResult(name, str(opt) if opt.exists() else None, False, removed)


def _drop_image(ref: str, log: OpLog) -> None:
    from devbox.adapters.docker import engine

    try:
        engine.remove_image(ref)
    except DevboxError as err:  # another container still uses it
        log.write(f"kept image {ref}: {err}")


def _remove_workspace(cfg: Config, name: str, force: bool, log: OpLog) -> None:
    try:
        from devbox.services import checkout
    except ImportError:
        return
    remover = getattr(checkout, "remove_workspace", None)
    if remover is not None:
        remover(cfg, name, force=force, log=log)


def exec_in(cfg: Config, name: str, argv: list[str], user: str = "root") -> int:
    import sys

    st = devbox_container.require(name, cfg)
    if not st.running:
        raise UserError(
            f"container '{name}' is not running",
            hint=f"start it: devbox dockeruser start-dev-container {name}",
        )
    code, _ = dc.exec_run(
        name,
        argv,
        user=user,
        on_output=lambda chunk: (sys.stdout.buffer.write(chunk), sys.stdout.flush()) and None,
    )
    return code


def log_path(cfg: Config, name: str) -> Path:
    validate_name(name)
    path = Layout(cfg.root).container_log(name)
    if not path.is_file():
        raise UserError(
            f"no devbox log for '{name}' ({path})",
            hint="list them with 'devbox dockeruser list-containers'",
        )
    return path


def run_ssh(argv: list[str], replace: bool) -> int:
    """Run the ssh command line from :func:`ssh_argv`: ``replace`` turns this process into it
    (an interactive login); else it runs as a child and its exit code is returned."""
    from devbox.adapters.host.process import replace_process, run_interactive

    if replace:
        replace_process(argv)  # does not return
    return run_interactive(argv)
