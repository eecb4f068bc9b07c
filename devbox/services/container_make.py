"""Dev and OS containers: make, start, stop, list, remove, exec.

``make`` is the old make-dev-container as named steps, each logged to
``<root>/logs/<name>.log``, shown as progress and undone in reverse when a later step fails.
User data in /opt is never deleted by an undo: only a tree this very make created is removed.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from devbox.adapters import seed_fetch, ssh
from devbox.adapters.docker import containers as dc
from devbox.config import Config
from devbox.errors import OperationFailed, UserError
from devbox.locks import name_lock
from devbox.model import container_plan, labels
from devbox.model import limits as limits_mod
from devbox.model.container_plan import MakeOptions, MakeResult, require_this_root
from devbox.model.limits import Limits
from devbox.model.naming import validate_name
from devbox.oplog import OpLog
from devbox.paths import Layout
from devbox.resources import role_dir
from devbox.services.container_lifecycle import exited_hint
from devbox.state.container_records import (
    DEV_USER,
    HOST_KEY,
    HOST_KEY_FILES,
    devbox_key,
    home_dir,
    known_hosts,
    read_state,
    write_state,
)
from devbox.steps import Reporter, Step, StepContext, run_steps

if TYPE_CHECKING:
    from devbox.branches import Branch





# ---------------------------------------------------------------- state file










# ---------------------------------------------------------------- keys and paths








def _caller_public_keys(cfg: Config) -> list[str]:
    ssh_dir = home_dir(cfg) / ".ssh"
    return [p.read_text() for p in sorted(ssh_dir.glob("id_*.pub")) if p.is_file()]


def _team_public_keys() -> list[str]:
    return [p.read_text() for p in sorted((role_dir("dockeruser") / "ssh").glob("*.pub"))]


def resolve_branch(cfg: Config, opts: MakeOptions) -> Branch | None:
    """The branch map entry for a dev container's branch (UserError with close matches when
    unknown); None for kinds without a branch (os)."""
    if opts.kind == "os":
        return None
    from devbox import branches

    return branches.for_config(cfg).resolve(opts.branch)


# ---------------------------------------------------------------- make


class _Maker:
    """Holds what the steps of one make share."""

    def __init__(self, cfg: Config, opts: MakeOptions, log: OpLog, branch: Branch | None,
                 password: Callable[[], str] | None = None) -> None:
        self.cfg = cfg
        self.opts = opts
        self.branch = branch
        self.password = password
        self.image_name = (opts.image or (self.branch.image if self.branch else "")
                           or str(cfg["image"] if opts.kind != "os" else "os"))
        self.log = log
        self.layout = Layout(cfg.root)
        self.name = opts.name
        self.opt_dir = self.layout.opt_dir(opts.name)
        self.image = ""
        self.ip = ""
        self.mac = ""
        self.warnings: list[str] = []
        self.revision: str | None = None
        self.parent = ""
        self.created_opt = False
        self.host_keys: list[str] = []
        self.user = container_plan.login_user(opts.kind)
        self._ids: dict[str, tuple[int, int]] = {}

    # 1
    def prepare_opt(self, ctx: StepContext) -> None:
        from devbox.state import migrate

        migrate.protect_store(self.layout, self.log)
        existed = self.opt_dir.exists()
        self.created_opt = not existed
        self.opt_dir.mkdir(parents=True, exist_ok=True)
        if not existed:
            ctx.undo(f"remove {self.opt_dir} (created by this make)",
                     lambda: shutil.rmtree(self.layout.container_dir(self.name),
                                           ignore_errors=True))
        source = self.opts.opt_seed
        seed_sha256 = ""  # from opt-seeds.toml: checked before anything reaches /opt
        if source is None and self.branch is not None and self.branch.opt_seed:
            source = self.branch.opt_seed
            if not source.startswith(("/", "http://", "https://")):
                source = str(role_dir("dockeruser") / source)
        if source is None:
            from devbox.rolemaps import seed_for

            image_short = self.image_name.rsplit("/", 1)[-1].split(":", 1)[0]
            seed = seed_for(image_short, self.opts.branch)
            source = seed.source if seed else None
            seed_sha256 = seed.sha256 if seed else ""
        if source is None:
            ctx.skip("no /opt seed mapped for this image and branch")
        marker = self.layout.container_dir(self.name) / ".seeded"
        if marker.exists() and marker.read_text().strip() == source:
            ctx.skip(f"already extracted from {source}")
        assert source is not None
        ctx.info(f"extracting {source} into {self.opt_dir}")
        count = seed_fetch.unpack(source, self.opt_dir,
                                  lambda done, total: ctx.progress(done, total, "bytes"),
                                  sha256=seed_sha256,
                                  limits=seed_fetch.FetchLimits.from_config(self.cfg))
        marker.write_text(source + "\n")
        ctx.note = f"{count} entries from {source}"

    # 2
    def ensure_image(self, ctx: StepContext) -> None:
        from devbox.services import images

        self.image = images.resolve_ref(self.cfg, self.image_name)
        pulled = images.ensure_present(self.cfg, self.image, self.log, ctx.progress)
        ctx.note = "pulled" if pulled else "present"

    # 3
    def create_container(self, ctx: StepContext) -> None:
        from devbox.model import macs
        from devbox.model.vmstyle import systemd_run_kwargs
        from devbox.services import network

        self.parent = network.resolve_parent(self.cfg, self.opts.parent)
        self.mac = macs.mac_for_name(self.name)
        extra = container_plan.parse_label_setting(self.cfg["labels"])
        lbls = container_plan.container_labels(self.opts, self.image, self.parent, self.mac,
                                               self.cfg["ifname"], str(self.opt_dir), extra,
                                               root=str(self.cfg.root))
        from devbox.adapters.host import cgroupfs

        cgmode = cgroupfs.mode()
        kwargs = systemd_run_kwargs(name=self.name, image=self.image, opt_dir=self.opt_dir,
                                    labels=lbls, cgroup_mode=cgmode, limits=self.opts.limits)
        ctx.undo(f"remove container {self.name}", lambda: dc.remove(self.name))
        dc.create(kwargs)
        cgroupfs.apply_outer_limits(self.name, self.opts.limits, cgmode)
        # The SSH host key is made here and put in before the first boot: devbox knows it
        # without asking the network (nothing is accepted on first use) and sshd starts
        # without generating keys.
        # The engine leaves /etc/hosts and /etc/resolv.conf to the container (vmstyle): they
        # go in with the key, before the first boot.
        private, public = ssh.generate_host_key(self.name)
        dc.seed_files(self.name, {HOST_KEY: (private, 0o600, 0, 0),
                                  HOST_KEY + ".pub": ((public + "\n").encode(), 0o644, 0, 0),
                                  **vm_identity_files(self.name)})
        self.host_keys = [public]
        dc.start(self.name)
        ctx.info(f"container {self.name} started from {self.image}")

    # 4
    def attach_network(self, ctx: StepContext) -> None:
        from devbox.services import daemon_control, network

        ctx.undo(f"release the lease and remove {self.name}'s LAN interface",
                 lambda: network.detach(self.cfg, self.name, log=self.log))
        att = network.attach(self.cfg, self.name, parent=self.opts.parent, vlan=self.opts.vlan,
                             mac=self.mac, dhcp=True, log=self.log)
        if not att.ip:
            raise OperationFailed(f"{self.name} got no LAN address")
        self.ip, self.mac = att.ip, att.mac
        ctx.note = f"{att.ip} on {att.parent}"
        try:
            daemon_control.ensure_running(self.cfg)
        except Exception as err:  # noqa: BLE001 - the lease is bound; renewals need the daemon
            self.warnings.append(f"devbox daemon not running ({err}): the lease will not be "
                                 "renewed until 'devbox common daemon' runs")

    # 5
    def wait_for_ssh(self, ctx: StepContext) -> None:
        keys = self.host_keys or self._host_keys(timeout=float(self.cfg["ssh_timeout"]))
        ssh.record_host_keys(known_hosts(self.layout), [self.name, self.ip], keys)
        ctx.undo("forget the host key", lambda: ssh.forget_host(known_hosts(self.layout),
                                                               [self.name, self.ip]))
        timeout = float(self.cfg["ssh_timeout"])
        if self.host_keys:  # made by devbox: sshd must prove it holds that key
            seconds = ssh.wait_for_host_key(self.ip, keys, 22, timeout=timeout,
                                            connect=self._connector())
            ctx.note = f"sshd proved its host key after {seconds:.2f}s"
        else:
            seconds = ssh.wait_for_banner(self.ip, 22, timeout=timeout, connect=self._connector())
            ctx.note = f"sshd answered after {seconds:.2f}s"

    def _connector(self) -> ssh.SocketFactory:
        from devbox.services import host_reach

        return host_reach.host_connector(self.cfg, self.name)

    def _host_keys(self, timeout: float) -> list[str]:
        """Host keys read through the Docker API (a trusted channel), so the first SSH
        connection is already checked: nothing is ever accepted on first use."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = []
            for path in HOST_KEY_FILES:
                data = dc.read_file(self.name, path)
                if data:
                    found.append(data.decode().strip())
            if found:
                return found
            state = dc.inspect(self.name)
            if state is None or not state.running:
                raise OperationFailed(f"container {self.name} stopped while booting",
                                      hint=exited_hint(self.name))
            time.sleep(0.1)
        raise OperationFailed(f"{self.name} has no SSH host keys after {timeout:.0f}s",
                              hint="is openssh-server in the image and enabled?")

    # 6
    def install_keys(self, ctx: StepContext) -> None:
        public = ssh.ensure_keypair(devbox_key(self.layout))
        text = container_plan.authorized_keys([public, *_caller_public_keys(self.cfg),
                                               *_team_public_keys()])
        uid, gid = self._user_ids(self.user)
        if self.created_opt:
            # a new /opt belongs to the dev user (an existing one keeps its owners)
            _chown_tree(self.opt_dir, uid, gid)
        home = container_plan.home_of(self.user)
        dc.put_files(self.name,
                     {f"{home}/.ssh/authorized_keys": (text.encode(), 0o600, uid, gid)},
                     dirs={f"{home}/.ssh": (0o700, uid, gid)})
        ctx.note = f"{len(text.splitlines())} key(s)"

    def _user_ids(self, user: str) -> tuple[int, int]:
        if user not in self._ids:
            self._ids[user] = self._lookup_ids(user)
        return self._ids[user]

    def _lookup_ids(self, user: str) -> tuple[int, int]:
        _code, out = dc.exec_run(self.name, ["id", user])
        ids = dict(part.split("=", 1) for part in out.decode(errors="replace").split()
                   if "=" in part)
        try:
            return int(ids["uid"].split("(")[0]), int(ids["gid"].split("(")[0])
        except (KeyError, ValueError):
            raise OperationFailed(f"image {self.image} has no '{user}' user",
                                  hint="build it with 'devbox containerauthor build-image dev'"
                                  ) from None

    # 7
    def install_license(self, ctx: StepContext) -> None:
        from devbox.rolemaps import license_for

        if self.opts.kind == "os":
            ctx.skip("OS containers get no license")
        named = self.branch.license if self.branch is not None else None
        rule = license_for(self.opts.branch, name=named or None)
        if rule is None:
            self.warnings.append(f"no license mapped for branch '{self.opts.branch}' "
                                 "(roles/dockeruser/licenses.toml)")
            ctx.skip("no license mapped for this branch")
        if not rule.file.is_file():
            raise UserError(f"license file {rule.file} (for branch {self.opts.branch}) is missing")
        parent = str(Path(rule.target).parent)
        dc.exec_run(self.name, ["mkdir", "-p", parent])
        dc.put_files(self.name, {rule.target: (rule.file.read_bytes(), 0o644, 0, 0)})
        ctx.note = f"{rule.file.name} -> {rule.target}"

    # 8
    def checkout(self, ctx: StepContext) -> None:
        if not self.opts.checkout:
            ctx.skip("--no-checkout")
        from devbox.services import checkout

        ctx.undo("remove the checkout workspace",
                 lambda: checkout.remove_workspace(self.cfg, self.name, force=True, log=self.log))
        result = checkout.checkout(self.cfg, self.name, self.opts.branch, self.opt_dir,
                                   update=False, log=self.log, progress=ctx.progress,
                                   password=self.password, owner=self._user_ids(DEV_USER))
        self.revision = str(getattr(result, "revision", "") or "") or None
        ctx.note = f"{getattr(result, 'vcs', '')} {self.revision or ''}".strip()

    # 9
    def write_ssh_config(self, ctx: StepContext) -> None:
        from devbox.adapters.host import sshconfig

        entry = sshconfig.HostEntry(self.name, self.ip, self.user, devbox_key(self.layout),
                                    known_hosts(self.layout),
                                    proxy_command=self._proxy_command())
        home = home_dir(self.cfg)
        ctx.undo("remove the SSH config entry", lambda: sshconfig.remove_entry(home, self.name))
        path = sshconfig.write_entry(home, entry)
        ctx.note = str(path)

    def _proxy_command(self) -> str | None:
        from devbox.services import host_reach

        if host_reach.reachable_directly(self.ip):  # the same test devbox's own connections use
            return None
        from devbox.services.host_reach import proxy_command

        return proxy_command(self.cfg, self.name)

    def steps(self) -> list[Step]:
        return [
            Step("prepare /opt", self.prepare_opt),
            Step("image", self.ensure_image),
            Step("start container", self.create_container),
            Step("attach LAN (DHCP)", self.attach_network),
            Step("wait for sshd", self.wait_for_ssh),
            Step("install SSH keys", self.install_keys),
            Step("install license", self.install_license),
            Step("check out branch", self.checkout),
            Step("SSH config entry", self.write_ssh_config),
        ]




def _chown_tree(top: Path, uid: int, gid: int) -> None:
    """``lchown -R`` of an /opt the container already runs on: through directory descriptors
    opened O_NOFOLLOW (devbox.adapters.rootfs), so a directory the tenant swaps for a link
    while this walks is skipped, never followed onto the host."""
    from devbox.adapters.host.rootfs import RootDir

    with RootDir.open(top, f"the /opt tree {top}") as root:
        root.chown_tree(uid, gid)


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
    return {"/etc/hosts": (hosts_file(name).encode(), 0o644, 0, 0),
            "/etc/resolv.conf": ((text or "\n").encode(), 0o644, 0, 0)}




def _converge(cfg: Config, name: str, log: OpLog) -> None:
    """Before a make: finish off what an interrupted or killed make of ``name`` left behind."""
    from devbox.state import migrate

    layout = Layout(cfg.root)
    migrate.ensure(layout)
    existing = dc.inspect(name)
    state = read_state(layout, name)
    if existing is not None and existing.labels.get(labels.ROLE) is None:
        raise UserError(f"a container named '{name}' exists and was not made by devbox",
                        hint="pick another name, or remove it with docker rm")
    if existing is not None:
        # another root's container is never touched
        require_this_root(cfg, existing.name, existing.labels)
    if existing is not None and state.get("ready"):
        raise UserError(f"container '{name}' already exists",
                        hint=f"start it with 'devbox dockeruser start-dev-container {name}' or "
                             f"remove it with 'devbox dockeruser remove-dev-container {name}'")
    if existing is not None and not state.get("making"):
        # labelled with this root, but no record that a make of this root began it (a lost
        # state file): it may be live and in use, so it is not "half-made"
        raise UserError(f"container '{name}' exists but this devbox root has no record of "
                        "making it; not touching it",
                        hint=f"remove it with 'devbox dockeruser remove-dev-container {name}', "
                             "or pick another name")
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
    return limits_mod.resolve(limits_mod.settings_of(cfg), procfs.host_size(), *layers,
                              opts.limits)


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


def make(cfg: Config, opts: MakeOptions, reporter: Reporter | None = None,
         extra_steps: tuple[Step, ...] = (),
         password: Callable[[], str] | None = None) -> MakeResult:
    """Make a dev (or OS) container; see the module docstring.

    ``extra_steps`` run after the checkout, before the SSH config entry (combos apply their
    patches there); they are undone with the rest on failure. ``password`` is asked for only
    when a Perforce login is needed."""
    validate_name(opts.name)
    branch = resolve_branch(cfg, opts)  # a bad or unknown branch fails before anything is made
    opts = replace(opts, limits=plan_limits(cfg, opts, branch))  # so do limits past the host
    import threading

    threading.Thread(target=_preload, name="preload", daemon=True).start()
    layout = Layout(cfg.root)
    log_path = layout.container_log(opts.name)
    with name_lock(layout.locks, opts.name, "making"), OpLog(log_path) as log:
        _converge(cfg, opts.name, log)
        from devbox.adapters.host import procfs
        from devbox.model import capacity

        capacity.require_room(procfs.inotify_room(), 1, f"making {opts.name}")
        maker = _Maker(cfg, opts, log, branch, password)
        title = f"make-{opts.kind}-container {opts.name}"
        steps = maker.steps()
        steps[-1:-1] = list(extra_steps)
        result = run_steps(title, steps, log, reporter, cleanup_hint=(
            f"devbox dockeruser remove-dev-container {opts.name}"))
        write_state(layout, opts.name, ready=True, kind=opts.kind, branch=opts.branch,
                    image=maker.image, ip=maker.ip, mac=maker.mac, revision=maker.revision,
                    made=time.time())
        for warning in maker.warnings:
            log.write(f"warning: {warning}")
    return MakeResult(
        name=opts.name, ip=maker.ip, mac=maker.mac, image=maker.image,
        ssh_command=container_plan.ssh_command(opts.name), opt_dir=str(maker.opt_dir),
        log=str(log_path), seconds=result.seconds, durations=result.durations,
        warnings=maker.warnings, revision=maker.revision,
    )


# ---------------------------------------------------------------- the other commands




























