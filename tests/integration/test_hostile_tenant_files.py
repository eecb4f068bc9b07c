"""Issue 11, attack 2: a tenant plants symlinks in its own tree so that devbox (root on the host)
writes a host file of the tenant's choosing. Real dev containers on the lab LAN; the tenant is
the container's ``dev`` user with sudo; the victims are host files the test makes (run id in
their names) with known content, which must never change."""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from devbox.adapters.docker import containers as dc
from tests.cli import run_devbox
from tests.conftest import RUN_ID
from tests.fixtures.devcontainers import DevEnv

pytestmark = pytest.mark.integration
PRECIOUS = "host file owned by the host: the tenant must not change it\n"


class Victims:
    """Host files and directories with known content, removed at the end."""

    def __init__(self) -> None:
        self.paths: list[Path] = []

    def file(self, tag: str, base: str = "/tmp") -> Path:
        path = Path(base) / f"devbox-victim-{RUN_ID}-{tag}-{secrets.token_hex(3)}"
        path.write_text(PRECIOUS)
        os.chmod(path, 0o644)
        self.paths.append(path)
        return path

    def dir(self, tag: str, base: str = "/tmp") -> Path:
        path = Path(base) / f"devbox-victimdir-{RUN_ID}-{tag}-{secrets.token_hex(3)}"
        path.mkdir()
        self.paths.append(path)
        return path

    def assert_untouched(self) -> None:
        for path in self.paths:
            st = path.lstat()
            assert (st.st_uid, st.st_gid) == (0, 0), path
            if path.is_dir():
                assert {p.name: p.read_text() for p in path.iterdir()} == {
                    p.name: PRECIOUS for p in path.iterdir()
                }, path
            else:
                assert path.read_text() == PRECIOUS, path


@pytest.fixture
def victims() -> Iterator[Victims]:
    v = Victims()
    try:
        yield v
    finally:
        for path in v.paths:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def tenant(name: str, script: str) -> str:
    """Run ``script`` in the container as its dev user, through sudo (the tenant's root)."""
    code, out = dc.exec_run(name, ["sudo", "-n", "sh", "-c", script], user="dev")
    text = out.decode(errors="replace")
    assert code == 0, text
    return text


def make(dev: DevEnv, tag: str) -> str:
    from devbox.model.container_plan import MakeOptions
    from devbox.services import container_make

    name = dev.name(tag)
    container_make.make(dev.cfg(), MakeOptions(name=name, branch="main", checkout=False))
    return name


def opt_of(name: str) -> Path:
    from devbox.model import labels

    st = dc.inspect(name)
    assert st is not None
    path = Path(st.labels[labels.OPT_DIR])
    assert path.is_dir(), path
    return path


def restart(dev: DevEnv, name: str) -> str:
    """Stop and start through devbox: the daemon binds the lease again (writing the
    container's resolv.conf); returns the address."""
    from devbox.services import container_lifecycle

    cfg = dev.cfg()
    container_lifecycle.stop(cfg, name)
    return container_lifecycle.start(cfg, name).ip


def test_dhcp_resolv_conf_never_follows_a_tenant_link(devenv: DevEnv, victims: Victims) -> None:
    name = make(devenv, "rs")

    # an absolute link: through /proc/PID/root it would resolve against the host's root
    absolute = victims.file("abs")
    tenant(name, f"ln -sfn {absolute} /etc/resolv.conf")
    assert restart(devenv, name)
    victims.assert_untouched()
    # the link itself was replaced (a new file renamed over it), never written through
    assert dc.exec_run(name, ["test", "-L", "/etc/resolv.conf"])[0] == 1
    assert "written by devbox" in tenant(name, "cat /etc/resolv.conf")

    # a relative one climbing out with ..
    relative = victims.file("rel")
    tenant(name, f"ln -sfn ../../../../../../../..{relative} /etc/resolv.conf")
    assert restart(devenv, name)
    victims.assert_untouched()

    # the control: a plain file is written from the lease, and the lease still renews
    tenant(name, "rm -f /etc/resolv.conf && echo old > /etc/resolv.conf")
    ip = restart(devenv, name)
    assert ip
    assert "written by devbox from the DHCP lease" in tenant(name, "cat /etc/resolv.conf")

    # (/etc itself a link: not possible in a running container, the engine's bind mount of
    # /etc/hostname keeps /etc in place; tests/unit/adapters/host/test_rootfs.py covers
    # symlinked parents)
    assert restart(devenv, name) == ip  # the lease is kept and bound again, same address
    victims.assert_untouched()


def test_archive_writes_stay_in_the_container(devenv: DevEnv, victims: Victims) -> None:
    """install_keys and install_license write through the engine's archive API: the engine
    resolves every path inside the container (a chroot), so planted links stay there."""
    from devbox.services import make_steps

    name = make(devenv, "ak")
    _code, ids = dc.exec_run(name, ["id", "-u", "dev"])
    uid = gid = int(ids.decode().strip())

    def put_authorized_keys(data: bytes) -> None:
        dc.put_files(
            name,
            {"/home/dev/.ssh/authorized_keys": (data, 0o600, uid, gid)},
            dirs={"/home/dev/.ssh": (0o700, uid, gid)},
        )

    keys = victims.file("keys")
    tenant(name, f"ln -sfn {keys} /home/dev/.ssh/authorized_keys")
    put_authorized_keys(b"ssh-ed25519 AAAA new\n")
    victims.assert_untouched()
    assert tenant(name, "cat /home/dev/.ssh/authorized_keys") == "ssh-ed25519 AAAA new\n"

    ssh_dir = victims.dir("ssh")
    tenant(name, f"rm -rf /home/dev/.ssh && ln -s {ssh_dir} /home/dev/.ssh")
    put_authorized_keys(b"k\n")
    victims.assert_untouched()
    assert list(ssh_dir.iterdir()) == []

    lic = victims.file("lic")
    tenant(name, f"ln -sfn {lic} /opt/product/license/license.lic")
    dc.put_files(name, {"/opt/product/license/license.lic": (b"license\n", 0o644, 0, 0)})
    victims.assert_untouched()

    # a new /opt is chowned to dev: a link planted in it is changed itself, never its target
    tenant(name, f"ln -sfn {lic} /opt/lic-link && ln -sfn {ssh_dir} /opt/dir-link")
    make_steps._chown_tree(opt_of(name), uid, gid)
    victims.assert_untouched()


def _tarball(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for member, data in files.items():
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_opt_seed_into_a_kept_opt_never_follows_a_tenant_link(
    devenv: DevEnv, victims: Victims, tmp_path: Path
) -> None:
    """A kept /opt (written by an earlier container) gets a seed again: links the tenant left
    there must not carry the extraction onto the host."""
    from devbox.adapters import seed_fetch
    from devbox.errors import DevboxError

    name = make(devenv, "sd")
    host_dir = victims.dir("seed")
    host_file = victims.file("seedf")
    tenant(
        name,
        f"mkdir -p /opt/tree && ln -sfn {host_dir} /opt/tree/etc && "
        f"ln -sfn {host_file} /opt/tree/passwd",
    )
    opt = opt_of(name)
    tar = _tarball(tmp_path / "seed.tar.gz", {"tree/etc/evil": b"x\n", "tree/passwd": b"x\n"})
    src_dir = tmp_path / "seed"
    (src_dir / "tree/etc").mkdir(parents=True)
    (src_dir / "tree/etc/evil").write_text("x\n")
    (src_dir / "tree/passwd").write_text("x\n")
    for source in (str(tar), str(src_dir)):
        try:
            seed_fetch.unpack(source, opt, lambda done, total: None)
        except DevboxError as err:
            assert "symlink" in str(err) or "outside" in str(err), err
        except tarfile.TarError as err:  # the data filter's own refusal
            assert "outside" in str(err), err
        victims.assert_untouched()
        assert list(host_dir.iterdir()) == []


@pytest.mark.slow
def test_clone_of_a_hostile_source_writes_nothing_on_the_host(
    devenv: DevEnv, victims: Victims
) -> None:
    from devbox.services import clone

    src = make(devenv, "cs")
    planted = {
        path: victims.file(tag)
        for tag, path in (
            ("hostname", "/etc/hostname"),
            ("machineid", "/etc/machine-id"),
            ("hostkey", "/etc/ssh/ssh_host_ed25519_key"),
            ("resolv", "/etc/resolv.conf"),
            ("hosts", "/etc/hosts"),
        )
    }
    # the engine bind-mounts /etc/hostname while it runs (busy): the others are the tenant's
    tenant(
        src, "; ".join(f"ln -sfn {victim} {path}" for path, victim in planted.items()) + "; true"
    )
    links = {
        path
        for path in planted  # (sudo now warns it cannot resolve its host name)
        if dc.exec_run(src, ["readlink", path])[1].decode().strip() == str(planted[path])
    }
    assert {
        "/etc/machine-id",
        "/etc/ssh/ssh_host_ed25519_key",
        "/etc/resolv.conf",
        "/etc/hosts",
    } <= links, links
    prefix = f"dbxt{RUN_ID}hc{secrets.token_hex(2)}"
    devenv.names.append(f"{prefix}1")
    env = {**os.environ, **devenv.env}
    try:
        result = run_devbox(
            ["dockeruser", "clone", src, "--count", "1", "--prefix", prefix, "--json"],
            env,
            timeout=600,
        )
        victims.assert_untouched()
        if result.returncode == 0:
            run = json.loads(result.stdout)
            (made,) = run["clones"]
            assert made["ok"], made
            code, out = dc.exec_run(made["name"], ["hostname"])
            assert code == 0 and out.decode().strip() == made["name"]
            st = dc.inspect(made["name"])
            assert st is not None and st.running
        else:  # a clean refusal: one line, nothing half-made
            assert result.stderr.strip(), result
            assert dc.list_labeled(f"devbox.clone-of={src}") == []
    finally:
        try:
            clone.remove_clones(devenv.cfg(), src)
        except Exception as err:  # noqa: BLE001 - devenv's teardown removes the rest
            print(f"remove_clones: {err}")
    victims.assert_untouched()


def test_the_service_never_imports_from_roots_working_folder(devenv: DevEnv) -> None:
    """Root runs devbox with its shell in a container's /opt (on the host): a module the
    tenant planted there must not be imported by the service root's CLI starts (``python -m``
    puts the working folder first on sys.path)."""
    import sys

    from devbox.services import daemon_control

    name = make(devenv, "cw")
    marker = Path(f"/tmp/devbox-planted-{RUN_ID}-{secrets.token_hex(3)}")
    tenant(
        name,
        "mkdir -p /opt/aiohttp && printf '%s\\n' "
        f'\'open("{marker}", "w").write("imported")\' '
        "'raise ImportError(\"planted\")' > /opt/aiohttp/__init__.py",
    )
    try:
        cfg = devenv.cfg()
        daemon_control.stop(cfg)  # the next command starts the service from that folder
        console = Path(sys.executable).parent / "devbox"  # the command root types, not -m
        result = subprocess.run(
            [str(console), "dockeruser", "list-containers", "--json"],
            cwd=opt_of(name),
            env={**os.environ, **devenv.env, "NO_COLOR": "1"},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert not marker.exists(), "the service imported the tenant's module"
        assert result.returncode == 0, result.stderr[-2000:]
        assert name in result.stdout
    finally:
        marker.unlink(missing_ok=True)
