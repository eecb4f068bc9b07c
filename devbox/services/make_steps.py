"""The steps of one make-dev-container, as module-level functions over one :class:`MakeJob`
(what the steps share), the way mkosi's build steps take one context. The step list itself,
in order, is ``devbox.services.container_make.STEPS``."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from devbox.adapters import seed_fetch, ssh
from devbox.adapters.docker import containers as dc
from devbox.config import Config
from devbox.errors import OperationFailed, UserError
from devbox.model import container_plan
from devbox.model.container_plan import MakeOptions
from devbox.oplog import OpLog
from devbox.paths import Layout
from devbox.resources import role_dir
from devbox.services import login_keys
from devbox.services.container_lifecycle import exited_hint
from devbox.state.container_records import (
    DEV_USER,
    HOST_KEY,
    HOST_KEY_FILES,
    devbox_key,
    home_dir,
    known_hosts,
)
from devbox.steps import StepContext
from devbox.waits import wait_until

if TYPE_CHECKING:
    from devbox.branches import Branch


@dataclass
class MakeJob:
    """What the steps of one make share: the request, and what the steps find out."""

    cfg: Config
    opts: MakeOptions
    log: OpLog
    branch: Branch | None
    password: Callable[[], str] | None = None
    before_start: Callable[[], None] | None = None  # a last check before the container starts
    image_name: str = field(init=False)
    layout: Layout = field(init=False)
    name: str = field(init=False)
    opt_dir: Path = field(init=False)
    user: str = field(init=False)
    image: str = ""
    ip: str = ""
    mac: str = ""
    parent: str = ""
    revision: str | None = None
    created_opt: bool = False
    host_keys: list[str] = field(default_factory=list)
    proxy_command: str | None = None
    warnings: list[str] = field(default_factory=list)
    ids: dict[str, tuple[int, int]] = field(default_factory=dict)
    keys_seeded: int = 0

    def __post_init__(self) -> None:
        opts = self.opts
        self.image_name = (
            opts.image
            or (self.branch.image if self.branch else "")
            or (self.cfg.text("image") if opts.kind != "os" else "os")
        )
        self.layout = Layout(self.cfg.root)
        self.name = opts.name
        self.opt_dir = self.layout.opt_dir(opts.name)
        self.user = container_plan.login_user(opts.kind)


# 1
def prepare_opt(job: MakeJob, ctx: StepContext) -> None:
    from devbox.state import migrate

    migrate.protect_store(job.layout, job.log)
    existed = job.opt_dir.exists()
    job.created_opt = not existed
    job.opt_dir.mkdir(parents=True, exist_ok=True)
    if not existed:
        ctx.undo(
            f"remove {job.opt_dir} (created by this make)",
            lambda: shutil.rmtree(job.layout.container_dir(job.name), ignore_errors=True),
        )
    source = job.opts.opt_seed
    seed_sha256 = ""  # from opt-seeds.toml: checked before anything reaches /opt
    if source is None and job.branch is not None and job.branch.opt_seed:
        source = job.branch.opt_seed
        if not source.startswith(("/", "http://", "https://")):
            source = str(role_dir("dockeruser") / source)
    if source is None:
        from devbox.rolemaps import seed_for

        image_short = job.image_name.rsplit("/", 1)[-1].split(":", 1)[0]
        seed = seed_for(image_short, job.opts.branch)
        source = seed.source if seed else None
        seed_sha256 = seed.sha256 if seed else ""
    if source is None:
        ctx.skip("no /opt seed mapped for this image and branch")
    marker = job.layout.container_dir(job.name) / ".seeded"
    if marker.exists() and marker.read_text().strip() == source:
        ctx.skip(f"already extracted from {source}")
    assert source is not None
    ctx.info(f"extracting {source} into {job.opt_dir}")
    count = seed_fetch.unpack(
        source,
        job.opt_dir,
        lambda done, total: ctx.progress(done, total, "bytes"),
        sha256=seed_sha256,
        limits=seed_fetch.FetchLimits.from_config(job.cfg),
    )
    marker.write_text(source + "\n")
    ctx.note = f"{count} entries from {source}"


# 2
def ensure_image(job: MakeJob, ctx: StepContext) -> None:
    from devbox.services import images

    job.image = images.resolve_ref(job.cfg, job.image_name)
    pulled = images.ensure_present(job.cfg, job.image, job.log, ctx.progress)
    ctx.note = "pulled" if pulled else "present"


# 3
def create_container(job: MakeJob, ctx: StepContext) -> None:
    from devbox.model import macs
    from devbox.model.vmstyle import systemd_run_kwargs
    from devbox.services import network

    job.parent = network.resolve_parent(job.cfg, job.opts.parent)
    job.mac = macs.mac_for_name(job.name)
    extra = container_plan.parse_label_setting(job.cfg.text("labels"))
    lbls = container_plan.container_labels(
        job.opts,
        job.image,
        job.parent,
        job.mac,
        job.cfg.text("ifname"),
        str(job.opt_dir),
        extra,
        root=str(job.cfg.root),
    )
    from devbox.adapters.host import cgroupfs

    cgmode = cgroupfs.mode()
    kwargs = systemd_run_kwargs(
        name=job.name,
        image=job.image,
        opt_dir=job.opt_dir,
        labels=lbls,
        cgroup_mode=cgmode,
        limits=job.opts.limits,
    )
    ctx.undo(f"remove container {job.name}", lambda: dc.remove(job.name))
    dc.create(kwargs)
    cgroupfs.apply_outer_limits(job.name, job.opts.limits, cgmode)
    # The SSH host key is made here and put in before the first boot: devbox knows it
    # without asking the network (nothing is accepted on first use) and sshd starts
    # without generating keys.
    # The engine leaves /etc/hosts and /etc/resolv.conf to the container (vmstyle): they
    # go in with the key, before the first boot.
    # The login keys go in with them when the image's /etc/passwd names the user's ids (no
    # exec into a running container, and nothing to wait for after sshd answers).
    private, public = ssh.generate_host_key(job.name)
    keys_files, keys_dirs = _seeded_login_keys(job)
    dc.seed_files(
        job.name,
        {
            HOST_KEY: (private, 0o600, 0, 0),
            HOST_KEY + ".pub": ((public + "\n").encode(), 0o644, 0, 0),
            **vm_identity_files(job.name),
            **keys_files,
        },
        dirs=keys_dirs,
    )
    job.keys_seeded = len(keys_files)
    job.host_keys = [public]
    if job.before_start is not None:
        job.before_start()
    dc.start(job.name)
    ctx.info(f"container {job.name} started from {job.image}")


# 4
def attach_network(job: MakeJob, ctx: StepContext) -> None:
    from devbox.services import daemon_control, network

    ctx.undo(
        f"release the lease and remove {job.name}'s LAN interface",
        lambda: network.detach(job.cfg, job.name, log=job.log),
    )
    att = network.attach(
        job.cfg,
        job.name,
        parent=job.opts.parent,
        vlan=job.opts.vlan,
        mac=job.mac,
        dhcp=True,
        log=job.log,
    )
    if not att.ip:
        raise OperationFailed(f"{job.name} got no LAN address")
    job.ip, job.mac = att.ip, att.mac
    ctx.note = f"{att.ip} on {att.parent}"
    try:
        daemon_control.ensure_running(job.cfg)
    except Exception as err:  # noqa: BLE001 - the lease is bound; renewals need the daemon
        job.warnings.append(
            f"devbox daemon not running ({err}): the lease will not be "
            "renewed until 'devbox common daemon' runs"
        )


# 5
def wait_for_ssh(job: MakeJob, ctx: StepContext) -> None:
    keys = job.host_keys or _host_keys(job, timeout=job.cfg.number("ssh_timeout"))
    job.host_keys = list(keys)
    ssh.record_host_keys(known_hosts(job.layout), [job.name, job.ip], keys)
    ctx.undo(
        "forget the host key", lambda: ssh.forget_host(known_hosts(job.layout), [job.name, job.ip])
    )
    timeout = job.cfg.number("ssh_timeout")
    if job.host_keys:  # made by devbox: sshd must prove it holds that key
        seconds = ssh.wait_for_host_key(job.ip, keys, 22, timeout=timeout, connect=_connector(job))
        ctx.note = f"sshd proved its host key after {seconds:.2f}s"
    else:
        seconds = ssh.wait_for_banner(job.ip, 22, timeout=timeout, connect=_connector(job))
        ctx.note = f"sshd answered after {seconds:.2f}s"


def _connector(job: MakeJob) -> ssh.SocketFactory:
    from devbox.services import host_reach

    return host_reach.host_connector(job.cfg, job.name)


def _host_keys(job: MakeJob, timeout: float) -> list[str]:
    """Host keys read through the Docker API (a trusted channel), so the first SSH
    connection is already checked: nothing is ever accepted on first use."""

    def found() -> list[str]:
        keys = [
            data.decode().strip() for p in HOST_KEY_FILES if (data := dc.read_file(job.name, p))
        ]
        if not keys:
            state = dc.inspect(job.name)
            if state is None or not state.running:  # a boot that failed: say so at once
                raise OperationFailed(
                    f"container {job.name} stopped while booting", hint=exited_hint(job.name)
                )
        return keys

    return wait_until(
        found,
        timeout,
        0.1,
        "SSH host keys",
        error=lambda: OperationFailed(
            f"{job.name} has no SSH host keys after {timeout:.0f}s",
            hint="is openssh-server in the image and enabled?",
        ),
    )


def _seeded_login_keys(job: MakeJob) -> tuple[login_keys.Files, login_keys.Dirs]:
    """The ``authorized_keys`` file (and its ``.ssh`` folder) to put in before the first boot,
    when the image's /etc/passwd gives the login user's ids; nothing when it does not (then
    :func:`install_keys` does it after boot)."""
    ids = login_keys.image_ids(job.name, job.user, job.layout)
    if ids is None:
        return {}, {}
    job.ids[job.user] = ids
    return _login_keys(job, *ids)


def _login_keys(job: MakeJob, uid: int, gid: int) -> tuple[login_keys.Files, login_keys.Dirs]:
    owner_keys = (
        list(job.opts.public_keys)
        if job.opts.public_keys is not None
        else login_keys.caller_public_keys(job.cfg)
    )
    text = login_keys.authorized_keys_text(job.layout, owner_keys)
    return login_keys.files_for(job.user, uid, gid, text)


# 6
def install_keys(job: MakeJob, ctx: StepContext) -> None:
    uid, gid = _user_ids(job, job.user)
    if job.created_opt:
        # a new /opt belongs to the dev user (an existing one keeps its owners)
        _chown_tree(job.opt_dir, uid, gid)
    if job.keys_seeded:
        ctx.note = "put in before the first boot"
        return
    files, dirs = _login_keys(job, uid, gid)
    dc.put_files(job.name, files, dirs=dirs)
    text = next(iter(files.values()))[0].decode()
    ctx.note = f"{len(text.splitlines())} key(s)"


def _user_ids(job: MakeJob, user: str) -> tuple[int, int]:
    if user not in job.ids:
        job.ids[user] = _lookup_ids(job, user)
    return job.ids[user]


def _lookup_ids(job: MakeJob, user: str) -> tuple[int, int]:
    _code, out = dc.exec_run(job.name, ["id", user])
    ids = dict(part.split("=", 1) for part in out.decode(errors="replace").split() if "=" in part)
    try:
        return int(ids["uid"].split("(")[0]), int(ids["gid"].split("(")[0])
    except (KeyError, ValueError):
        raise OperationFailed(
            f"image {job.image} has no '{user}' user",
            hint="build it with 'devbox containerauthor build-image dev'",
        ) from None


def _chown_tree(top: Path, uid: int, gid: int) -> None:
    """``lchown -R`` of an /opt the container already runs on: through directory descriptors
    opened O_NOFOLLOW (devbox.adapters.rootfs), so a directory the tenant swaps for a link
    while this walks is skipped, never followed onto the host."""
    from devbox.adapters.host.rootfs import RootDir

    with RootDir.open(top, f"the /opt tree {top}") as root:
        root.chown_tree(uid, gid)


# 7
def install_license(job: MakeJob, ctx: StepContext) -> None:
    from devbox.rolemaps import license_for

    if job.opts.kind == "os":
        ctx.skip("OS containers get no license")
    named = job.branch.license if job.branch is not None else None
    rule = license_for(job.opts.branch, name=named or None)
    if rule is None:
        job.warnings.append(
            f"no license mapped for branch '{job.opts.branch}' (roles/dockeruser/licenses.toml)"
        )
        ctx.skip("no license mapped for this branch")
    if not rule.file.is_file():
        raise UserError(f"license file {rule.file} (for branch {job.opts.branch}) is missing")
    parent = str(Path(rule.target).parent)
    dc.exec_run(job.name, ["mkdir", "-p", parent])
    dc.put_files(job.name, {rule.target: (rule.file.read_bytes(), 0o644, 0, 0)})
    ctx.note = f"{rule.file.name} -> {rule.target}"


# 8
def checkout(job: MakeJob, ctx: StepContext) -> None:
    if not job.opts.checkout:
        ctx.skip("--no-checkout")
    from devbox.services import checkout as checkout_service

    ctx.undo(
        "remove the checkout workspace",
        lambda: checkout_service.remove_workspace(job.cfg, job.name, force=True, log=job.log),
    )
    result = checkout_service.checkout(
        job.cfg,
        job.name,
        job.opts.branch,
        job.opt_dir,
        update=False,
        log=job.log,
        progress=ctx.progress,
        password=job.password,
        owner=_user_ids(job, DEV_USER),
    )
    job.revision = str(getattr(result, "revision", "") or "") or None
    ctx.note = f"{getattr(result, 'vcs', '')} {job.revision or ''}".strip()


# 9
def write_ssh_config(job: MakeJob, ctx: StepContext) -> None:
    from devbox.adapters.host import sshconfig

    job.proxy_command = _proxy_command(job)
    if not job.cfg.flag("ssh.write_config"):
        ctx.skip("the client writes it, as its user")
    entry = sshconfig.HostEntry(
        job.name,
        job.ip,
        job.user,
        devbox_key(job.layout),
        known_hosts(job.layout),
        proxy_command=job.proxy_command,
    )
    home = home_dir(job.cfg)
    ctx.undo("remove the SSH config entry", lambda: sshconfig.remove_entry(home, job.name))
    path = sshconfig.write_entry(home, entry)
    ctx.note = str(path)


def _proxy_command(job: MakeJob) -> str | None:
    from devbox.services import host_reach

    if host_reach.reachable_directly(job.ip):  # the same test devbox's own connections use
        return None
    from devbox.services.host_reach import proxy_command

    return proxy_command(job.cfg, job.name)


def vm_identity_files(name: str) -> dict[str, tuple[bytes, int, int, int]]:
    """``/etc/hosts`` (its own name) and ``/etc/resolv.conf`` (the host's name servers, as
    Docker would copy them) of a new VM-style container: ``{path: (data, mode, uid, gid)}``."""
    from devbox.model.vmstyle import hosts_file, resolv_conf

    text = ""
    # /etc/resolv.conf, or on a systemd-resolved host (only its 127.0.0.53 stub there) the
    # upstream servers it uses, as Docker does; a DHCP lease's servers replace them later
    for source in (Path("/etc/resolv.conf"), Path("/run/systemd/resolve/resolv.conf")):
        try:
            text = resolv_conf(source.read_text(errors="replace"))
        except OSError:
            continue
        if "nameserver" in text:
            break
    return {
        "/etc/hosts": (hosts_file(name).encode(), 0o644, 0, 0),
        "/etc/resolv.conf": ((text or "\n").encode(), 0o644, 0, 0),
    }
