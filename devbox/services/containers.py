"""Dev and OS containers: make, start, stop, list, remove, exec.

``make`` is the old make-dev-container as named steps, each logged to
``<root>/logs/<name>.log``, shown as progress and undone in reverse when a later step fails.
User data in /opt is never deleted by an undo: only a tree this very make created is removed.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devbox import container_plan, labels
from devbox.adapters import docker_containers as dc
from devbox.adapters import seed_fetch, ssh
from devbox.config import Config
from devbox.container_plan import MakeOptions
from devbox.errors import NotReadyError, OperationFailed, UserError
from devbox.locks import name_lock
from devbox.naming import validate_name
from devbox.oplog import OpLog
from devbox.paths import Layout
from devbox.resources import role_dir
from devbox.steps import Reporter, Step, StepContext, run_steps

if TYPE_CHECKING:
    from devbox.branches import Branch

DEV_USER = "dev"
HOST_KEY = "/etc/ssh/ssh_host_ed25519_key"
HOST_KEY_FILES = ("/etc/ssh/ssh_host_ed25519_key.pub", "/etc/ssh/ssh_host_ecdsa_key.pub",
                  "/etc/ssh/ssh_host_rsa_key.pub")


@dataclass
class MakeResult:
    name: str
    ip: str
    mac: str
    image: str
    ssh_command: str
    opt_dir: str
    log: str
    seconds: float
    durations: dict[str, float]
    warnings: list[str] = field(default_factory=list)
    revision: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------- state file


def _state_path(layout: Layout, name: str) -> Path:
    return layout.container_dir(name) / "state.json"


def read_state(layout: Layout, name: str) -> dict[str, Any]:
    try:
        data = json.loads(_state_path(layout, name).read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def write_state(layout: Layout, name: str, **values: Any) -> None:
    path = _state_path(layout, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = read_state(layout, name)
    data.update(values)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    tmp.replace(path)


def clear_state(layout: Layout, name: str) -> None:
    _state_path(layout, name).unlink(missing_ok=True)


# ---------------------------------------------------------------- keys and paths


def devbox_key(layout: Layout) -> Path:
    return layout.ssh / "id_ed25519"


def known_hosts(layout: Layout) -> Path:
    return layout.ssh / "known_hosts"


def home_dir(cfg: Config) -> Path:
    """The caller's HOME (from the config's environment), where the SSH config entry goes."""
    return Path(cfg.environ.get("HOME") or Path.home())


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
        existed = self.opt_dir.exists()
        self.created_opt = not existed
        self.opt_dir.mkdir(parents=True, exist_ok=True)
        if not existed:
            ctx.undo(f"remove {self.opt_dir} (created by this make)",
                     lambda: shutil.rmtree(self.layout.container_dir(self.name),
                                           ignore_errors=True))
        source = self.opts.opt_seed
        if source is None and self.branch is not None and self.branch.opt_seed:
            source = self.branch.opt_seed
            if not source.startswith(("/", "http://", "https://")):
                source = str(role_dir("dockeruser") / source)
        if source is None:
            from devbox.rolemaps import seed_for

            image_short = self.image_name.rsplit("/", 1)[-1].split(":", 1)[0]
            seed = seed_for(image_short, self.opts.branch)
            source = seed.source if seed else None
        if source is None:
            ctx.skip("no /opt seed mapped for this image and branch")
        marker = self.layout.container_dir(self.name) / ".seeded"
        if marker.exists() and marker.read_text().strip() == source:
            ctx.skip(f"already extracted from {source}")
        assert source is not None
        ctx.info(f"extracting {source} into {self.opt_dir}")
        count = seed_fetch.unpack(source, self.opt_dir,
                                  lambda done, total: ctx.progress(done, total, "bytes"))
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
        from devbox import macs
        from devbox.services import network
        from devbox.vmstyle import systemd_run_kwargs

        self.parent = network.resolve_parent(self.cfg, self.opts.parent)
        self.mac = macs.mac_for_name(self.name)
        extra = container_plan.parse_label_setting(self.cfg["labels"])
        lbls = container_plan.container_labels(self.opts, self.image, self.parent, self.mac,
                                               self.cfg["ifname"], str(self.opt_dir), extra,
                                               root=str(self.cfg.root))
        kwargs = systemd_run_kwargs(name=self.name, image=self.image, opt_dir=self.opt_dir,
                                    labels=lbls)
        ctx.undo(f"remove container {self.name}", lambda: dc.remove(self.name))
        dc.create(kwargs)
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
        from devbox.services import daemon, network

        ctx.undo(f"release the lease and remove {self.name}'s LAN interface",
                 lambda: network.detach(self.cfg, self.name, log=self.log))
        att = network.attach(self.cfg, self.name, parent=self.opts.parent, vlan=self.opts.vlan,
                             mac=self.mac, dhcp=True, log=self.log)
        if not att.ip:
            raise OperationFailed(f"{self.name} got no LAN address")
        self.ip, self.mac = att.ip, att.mac
        ctx.note = f"{att.ip} on {att.parent}"
        try:
            daemon.ensure_running(self.cfg)
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
        from devbox.services import network

        return network.host_connector(self.cfg, self.name)

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
        from devbox import sshconfig

        entry = sshconfig.HostEntry(self.name, self.ip, self.user, devbox_key(self.layout),
                                    known_hosts(self.layout),
                                    proxy_command=self._proxy_command())
        home = home_dir(self.cfg)
        ctx.undo("remove the SSH config entry", lambda: sshconfig.remove_entry(home, self.name))
        path = sshconfig.write_entry(home, entry)
        ctx.note = str(path)

    def _proxy_command(self) -> str | None:
        from devbox.services import network

        if network.reachable_directly(self.ip):  # the same test devbox's own connections use
            return None
        return f"devbox common net connect {self.name} %p"

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
    os.lchown(top, uid, gid)
    for root, dirs, files in os.walk(top):
        for entry in (*dirs, *files):
            os.lchown(os.path.join(root, entry), uid, gid)


def vm_identity_files(name: str) -> dict[str, tuple[bytes, int, int, int]]:
    """``/etc/hosts`` (its own name) and ``/etc/resolv.conf`` (the host's name servers, as
    Docker would copy them) of a new VM-style container: ``{path: (data, mode, uid, gid)}``."""
    from devbox.vmstyle import hosts_file, resolv_conf

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


def exited_hint(name: str) -> str:
    """Why a systemd container may exit at once: most often the host ran out of inotify
    instances (systemd then exits with status 255 and logs nothing)."""
    from devbox import capacity
    from devbox.adapters import procfs

    room = procfs.inotify_room()
    if room.containers < 2:  # the failed one gave its instances back: "about none left"
        return f"the host is out of inotify instances ({room.describe()}): {capacity.FIX}"
    return f"docker logs {name}"


def _converge(cfg: Config, name: str, log: OpLog) -> None:
    """Before a make: finish off what an interrupted or killed make of ``name`` left behind."""
    layout = Layout(cfg.root)
    existing = dc.inspect(name)
    state = read_state(layout, name)
    if existing is not None and existing.labels.get(labels.ROLE) is None:
        raise UserError(f"a container named '{name}' exists and was not made by devbox",
                        hint="pick another name, or remove it with docker rm")
    if existing is not None and state.get("ready"):
        raise UserError(f"container '{name}' already exists",
                        hint=f"start it with 'devbox dockeruser start-dev-container {name}' or "
                             f"remove it with 'devbox dockeruser remove-dev-container {name}'")
    if existing is not None:
        log.write(f"cleaning up a half-made '{name}' left by an interrupted make")
        from devbox.services import network

        try:
            network.detach(cfg, name, log=log)
        except Exception as err:  # noqa: BLE001 - best effort; the container goes anyway
            log.write(f"detach during cleanup failed: {err}")
        dc.remove(name)


def _preload() -> None:
    """Import what the later steps need while the first ones wait on Docker (saves ~0.3 s of a
    ~1.5 s make on a 2-core host)."""
    try:
        import paramiko  # noqa: F401
        import pyroute2  # noqa: F401

        from devbox.adapters import dhcp, netlink  # noqa: F401
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
    import threading

    threading.Thread(target=_preload, name="preload", daemon=True).start()
    layout = Layout(cfg.root)
    log_path = layout.container_log(opts.name)
    with name_lock(layout.locks, opts.name, "making"), OpLog(log_path) as log:
        _converge(cfg, opts.name, log)
        from devbox import capacity
        from devbox.adapters import procfs

        capacity.require_room(procfs.inotify_room(), 1, f"making {opts.name}")
        maker = _Maker(cfg, opts, log, branch, password)
        title = f"make-{opts.kind}-container {opts.name}"
        steps = maker.steps()
        steps[-1:-1] = list(extra_steps)
        result = run_steps(title, steps, log, reporter)
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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def list_containers(cfg: Config, include_stopped: bool = True,
                    with_size: bool = True) -> list[ContainerRow]:
    from devbox.services import network

    states = dc.list_labeled(labels.ROLE, all_states=include_stopped)
    addresses = {r.container: r for r in network.store(cfg).all()}
    layout = Layout(cfg.root)
    rows = []
    for st in sorted(states, key=lambda s: s.name):
        lb = st.labels
        att = addresses.get(st.name)
        opt = Path(lb.get(labels.OPT_DIR) or layout.opt_dir(st.name))
        rows.append(ContainerRow(
            name=st.name, kind=lb.get(labels.KIND, "dev"), branch=lb.get(labels.BRANCH, ""),
            state=st.status, ip=(att.ip if att and att.ip else ""),
            mac=lb.get(labels.MAC, ""), image=lb.get(labels.IMAGE, st.image),
            created=st.created[:19].replace("T", " "),
            opt_bytes=seed_fetch.du_bytes(opt) if with_size and opt.exists() else None,
            clone_of=lb.get(labels.CLONE_OF, ""), product=lb.get(labels.PRODUCT, ""),
            release=lb.get(labels.RELEASE, ""), patches=lb.get(labels.PATCHES, ""),
        ))
    return rows


def _require_devbox_container(name: str) -> dc.ContainerState:
    validate_name(name)
    st = dc.inspect(name)
    if st is None:
        raise UserError(f"no container named '{name}'",
                        hint="list them with 'devbox dockeruser list-containers'")
    if st.labels.get(labels.ROLE) is None:
        raise UserError(f"container '{name}' was not made by devbox")
    return st


def start(cfg: Config, name: str, reporter: Reporter | None = None) -> MakeResult:
    from devbox.services import daemon, network

    st = _require_devbox_container(name)
    layout = Layout(cfg.root)
    with name_lock(layout.locks, name, "starting"), OpLog(layout.container_log(name)) as log:
        t0 = time.monotonic()
        ip = ""

        def do_start(ctx: StepContext) -> None:
            # a clone's /opt overlay is not mounted again after a host reboot by anyone else
            from devbox.services import clone

            if clone.ensure_mounted_before_start(cfg, name, st.running):
                ctx.info("mounted the clone's /opt overlay again")
            if st.running:
                ctx.skip("already running")
            dc.start(name)

        def do_net(ctx: StepContext) -> None:
            nonlocal ip
            daemon.ensure_running(cfg)
            att = network.wait_attached(cfg, name, timeout=float(cfg["dhcp_timeout"]) + 20,
                                        log=log)
            if not att.ip:
                raise OperationFailed(f"{name} got no LAN address")
            ip = att.ip
            ctx.note = ip

        def do_ssh(ctx: StepContext) -> None:
            seconds = ssh.wait_for_banner(ip, 22, timeout=float(cfg["ssh_timeout"]),
                                          connect=network.host_connector(cfg, name))
            ctx.note = f"sshd answered after {seconds:.2f}s"

        result = run_steps(f"start-dev-container {name}",
                           [Step("start container", do_start), Step("LAN address", do_net),
                            Step("wait for sshd", do_ssh)], log, reporter)
        state = read_state(layout, name)
        if state.get("ip") and state["ip"] != ip:
            log.write(f"note: address changed from {state['ip']} to {ip}")
        write_state(layout, name, ip=ip)
    return MakeResult(name=name, ip=ip, mac=st.labels.get(labels.MAC, ""),
                      image=st.labels.get(labels.IMAGE, st.image),
                      ssh_command=container_plan.ssh_command(name),
                      opt_dir=st.labels.get(labels.OPT_DIR, ""),
                      log=str(layout.container_log(name)),
                      seconds=time.monotonic() - t0, durations=result.durations)


def stop(cfg: Config, name: str) -> None:
    st = _require_devbox_container(name)
    layout = Layout(cfg.root)
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


def remove(cfg: Config, name: str, purge: bool = False, force: bool = False) -> RemoveResult:
    from devbox import sshconfig
    from devbox.services import network

    validate_name(name)
    layout = Layout(cfg.root)
    st = dc.inspect(name)
    if st is not None and st.labels.get(labels.ROLE) is None:
        raise UserError(f"container '{name}' was not made by devbox; not removing it")
    if st is None and not layout.container_dir(name).exists():
        raise UserError(f"no container named '{name}'",
                        hint="list them with 'devbox dockeruser list-containers'")
    with name_lock(layout.locks, name, "removing"), OpLog(layout.container_log(name)) as log:
        _remove_workspace(cfg, name, force, log)
        try:
            network.detach(cfg, name, log=log)
        except UserError as err:
            log.write(f"detach: {err}")
        removed = dc.remove(name) if st is not None else False
        sshconfig.remove_entry(home_dir(cfg), name)
        state = read_state(layout, name)
        names = [name] + ([state["ip"]] if state.get("ip") else [])
        ssh.forget_host(known_hosts(layout), names)
        clear_state(layout, name)
        # a clone's /opt is an overlay mount: unmount it (and with --purge drop its upper
        # layer and any snapshot nothing uses any more) -- devbox.services.clone
        from devbox.services import clone

        clone.release_storage(cfg, name, purge=purge, log=log)
        log.write(f"removed container {name}" + ("; purging its /opt" if purge else
                                                 f"; kept {layout.opt_dir(name)}"))
    if purge:
        if layout.container_dir(name).exists():
            shutil.rmtree(layout.container_dir(name))
        return RemoveResult(name, None, True, removed)
    opt = layout.opt_dir(name)
    return RemoveResult(name, str(opt) if opt.exists() else None, False, removed)


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

    st = _require_devbox_container(name)
    if not st.running:
        raise UserError(f"container '{name}' is not running",
                        hint=f"start it: devbox dockeruser start-dev-container {name}")
    code, _ = dc.exec_run(name, argv, user=user,
                          on_output=lambda chunk: (sys.stdout.buffer.write(chunk),
                                                   sys.stdout.flush()) and None)
    return code


def ssh_argv(cfg: Config, name: str, command: list[str]) -> list[str]:
    """The system ssh command line that reaches ``name`` as the dev user."""
    from devbox.services import network

    st = _require_devbox_container(name)
    if not st.running:
        raise UserError(f"container '{name}' is not running",
                        hint=f"start it: devbox dockeruser start-dev-container {name}")
    layout = Layout(cfg.root)
    ip = read_state(layout, name).get("ip") or ""
    att = {a.container: a for a in network.show(cfg, name)}.get(name)
    if att is not None and att.ip:
        ip = att.ip
    if not ip:
        raise NotReadyError(f"container '{name}' has no LAN address yet",
                            hint="is the devbox daemon running? devbox common daemon")
    argv = ["ssh", "-i", str(devbox_key(layout)), "-o", "IdentitiesOnly=yes",
            "-o", f"UserKnownHostsFile={known_hosts(layout)}", "-o", "StrictHostKeyChecking=yes",
            "-o", f"HostKeyAlias={name}"]
    if not network.reachable_directly(ip):
        argv += ["-o", f"ProxyCommand=devbox common net connect {name} %p"]
    argv += [f"{st.labels.get(labels.USER, DEV_USER)}@{ip}"]
    if command:
        argv += ["--", *command]
    return argv


def log_path(cfg: Config, name: str) -> Path:
    validate_name(name)
    path = Layout(cfg.root).container_log(name)
    if not path.exists():
        raise UserError(f"no devbox log for '{name}' ({path})")
    return path


