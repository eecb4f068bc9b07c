"""README claims no other test exercises end to end (issue 18), each through the CLI as a user
types it, against the real engine, the lab LAN (dnsmasq in a netns), sshd and OpenSSH.

Most tests share one dev container (``readme_box``, made with the top-level shortcut) to keep
the module's runtime down; the ones that change or destroy what they touch make their own.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from devbox.paths import Layout
from tests import waits
from tests.cli import REPO, devbox_argv, run_cli
from tests.conftest import RUN_ID
from tests.fixtures.devcontainers import DevEnv
from tests.fixtures.engine import TEST_LABEL
from tests.fixtures.readme import Box, p4_fake, run_cli_with_p4, stderr_lines
from tests.fixtures.service_jobs import stop_service

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SHORTCUTS = (
    "make-dev-container",
    "list-containers",
    "ssh",
    "start-dev-container",
    "remove-dev-container",
)


def _openssh(
    config: Path, host: str, *command: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Plain OpenSSH with the config file devbox wrote (ssh reads ~ from the passwd entry,
    not $HOME, so the test's HOME is given with -F); BatchMode: never a prompt."""
    return subprocess.run(
        [
            "ssh",
            "-F",
            str(config),
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=20",
            host,
            *command,
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
        env={**os.environ, **(env or {})},
    )


def _no_trace(dev: DevEnv, engine: Any, name: str) -> None:
    from devbox.services import nic

    assert not engine.containers.list(all=True, filters={"name": f"^{name}$"})
    assert not [r for r in nic.store(dev.cfg()).all() if r.container == name]
    assert not Layout(dev.root).opt_dir(name).exists()


# ------------------------------------------------------------------ 1. top-level shortcuts


def test_top_level_shortcuts_do_what_the_dockeruser_forms_do(
    readme_dev: DevEnv, readme_box: Box, engine: Any
) -> None:
    env, name = readme_dev.env, readme_box.name
    # the same command behind both spellings: the same help text
    for command in SHORTCUTS:
        top = run_cli(env, command, "--help")
        full = run_cli(env, "dockeruser", command, "--help")
        assert top.returncode == 0 and full.returncode == 0, (command, top.stderr)
        top_usage, _, top_rest = top.stdout.partition("\n")
        full_usage, _, full_rest = full.stdout.partition("\n")
        assert (
            top_usage.replace(f"devbox {command} ", f"devbox dockeruser {command} ") == full_usage
        ), command
        assert top_rest == full_rest, command
    # make-dev-container (the fixture made the box with it): a devbox dev container
    ctr = engine.containers.get(name)
    assert ctr.labels["devbox.branch"] == "main" and ctr.status == "running"
    # list-containers: the same rows (a row may change between two listings right after a
    # make, its IPv6 address arriving once lan0 is past DAD: compared again, a few times)
    for _ in range(10):
        top = run_cli(env, "list-containers", "--json", "--no-size")
        full = run_cli(env, "dockeruser", "list-containers", "--json", "--no-size")
        assert top.returncode == 0 and full.returncode == 0, top.stderr + full.stderr
        if json.loads(top.stdout) == json.loads(full.stdout):
            break
        time.sleep(0.5)
    assert name in [r["name"] for r in json.loads(top.stdout)]
    assert json.loads(top.stdout) == json.loads(full.stdout)
    # ssh: runs the command in the container, exit code passed through
    out = run_cli(env, "ssh", name, "--", "hostname")
    assert out.returncode == 0 and out.stdout.strip() == name, out.stderr
    assert run_cli(env, "ssh", name, "--", "exit", "7").returncode == 7
    # start-dev-container after a stop: same MAC, same IP
    assert run_cli(env, "dockeruser", "stop", name).returncode == 0
    assert engine.containers.get(name).status == "exited"
    started = run_cli(env, "start-dev-container", name, "--json")
    assert started.returncode == 0, started.stderr
    assert json.loads(started.stdout)["ip"] == readme_box.summary["ip"]
    assert engine.containers.get(name).status == "running"
    # remove-dev-container: on a container of its own (the box is shared), /opt kept
    other = readme_dev.name("rm")
    made = run_cli(env, "make-dev-container", other, "--branch", "main", "--no-checkout", "--json")
    assert made.returncode == 0, made.stderr
    opt = Path(json.loads(made.stdout)["opt_dir"])
    removed = run_cli(env, "remove-dev-container", other, "--yes")
    assert removed.returncode == 0, removed.stderr
    assert not engine.containers.list(all=True, filters={"name": f"^{other}$"})
    assert opt.is_dir()
    purged = run_cli(env, "remove-dev-container", other, "--yes", "--purge")
    assert purged.returncode == 0, purged.stderr  # the kept /opt, deleted on request
    assert not opt.exists()


# ------------------------------------------------------------------ 2. plain OpenSSH


def test_plain_ssh_name_through_the_written_config_entry(
    readme_dev: DevEnv, readme_box: Box
) -> None:
    ssh_dir = readme_dev.home / ".ssh"
    assert "Include config.d/devbox" in (ssh_dir / "config").read_text().splitlines()
    entry = ssh_dir / "config.d" / "devbox"
    assert f"Host {readme_box.name}" in entry.read_text()
    assert "ProxyCommand" not in entry.read_text()  # the lab has a shim: direct
    res = _openssh(entry, readme_box.name, "hostname; id -un")
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == [readme_box.name, "dev"]


def test_plain_ssh_through_proxycommand_when_the_host_has_no_shim(
    readme_dev: DevEnv, engine: Any, tmp_path: Path
) -> None:
    """A LAN the host has no shim on (the default on a real NIC without shim_address): the
    entry routes through 'devbox common net connect' as ProxyCommand, and plain ssh works."""
    from devbox.adapters.net import netlink
    from devbox.model.lab_plan import shim_name
    from devbox.services import lab as labsvc
    from tests.fixtures.lab import teardown_lab

    other = __import__("tests.fixtures.lab", fromlist=["lab_settings"]).lab_settings(
        "n", tmp_path / "root"
    )
    home = tmp_path / "home"
    home.mkdir()
    env = {**readme_dev.env, **other.env, "HOME": str(home)}
    dev = DevEnv(env=env, root=other.root, home=home, repo=readme_dev.repo, lab=other, names=[])
    name = dev.name("px")
    labsvc.up(other.cfg())
    try:
        shim = shim_name(other.uplink)
        assert netlink.get_link(shim) is not None
        assert netlink.delete_link(shim)  # no shim: the host has no route onto the LAN
        made = run_cli(
            env, "make-dev-container", name, "--branch", "main", "--no-checkout", "--json"
        )
        assert made.returncode == 0, made.stderr
        ip = json.loads(made.stdout)["ip"]
        assert ip.startswith(other.prefix)
        from devbox.services import host_reach

        assert not host_reach.reachable_directly(ip)
        entry = home / ".ssh" / "config.d" / "devbox"
        text = entry.read_text()
        # the ProxyCommand names this (non-default) root: the lease record lives there
        assert (
            f"ProxyCommand devbox --root {shlex.quote(str(other.root))} common net connect "
            f"{name} %p"
        ) in text, text
        # the ProxyCommand's devbox is the one on PATH; it finds the root in the environment
        res = _openssh(entry, name, "hostname", env=env)
        assert res.returncode == 0, res.stderr
        assert res.stdout.strip() == name
        via_devbox = run_cli(env, "ssh", name, "--", "hostname")
        assert via_devbox.returncode == 0 and via_devbox.stdout.strip() == name, via_devbox.stderr
    finally:
        from tests.fixtures.readme import remove_all

        remove_all(dev, engine)
        teardown_lab(other)


# ------------------------------------------------------------------ 3. logs -f, --root, -v


def test_logs_follow_streams_new_lines(readme_dev: DevEnv, readme_box: Box) -> None:
    env = {**os.environ, **readme_dev.env, "NO_COLOR": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-u", "-m", "devbox", "dockeruser", "logs", readme_box.name, "-f"],
        cwd=REPO,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    lines: list[str] = []

    def reader() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        waits.wait_for(
            lambda: any("[SSH config entry] done in" in ln for ln in lines),
            30,
            "the existing log",
            0.1,
        )
        before = len(lines)
        # a new line in the container's log: devbox stops it (the log says so)
        stop = run_cli(readme_dev.env, "dockeruser", "stop", readme_box.name)
        assert stop.returncode == 0, stop.stderr
        waits.wait_for(
            lambda: any("stop" in ln for ln in lines[before:]),
            30,
            "the stop in the followed log",
            0.1,
        )
        assert proc.poll() is None  # still following
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        thread.join(10)
        start = run_cli(readme_dev.env, "start-dev-container", readme_box.name)
        assert start.returncode == 0, start.stderr


def test_global_root_flag_and_verbose(readme_dev: DevEnv, readme_box: Box, tmp_path: Path) -> None:
    # --root: the state of another root is found with the flag alone (DEVBOX_ROOT elsewhere)
    env = {**readme_dev.env, "DEVBOX_ROOT": str(tmp_path / "elsewhere")}
    try:
        without = run_cli(env, "list-containers", "--all", "--json", "--no-size")
    finally:  # root's CLI started a service for that root: it goes with the test
        stop_service(tmp_path / "elsewhere")
    assert without.returncode == 0, without.stderr
    assert readme_box.name not in [r["name"] for r in json.loads(without.stdout)]
    with_root = run_cli(
        env, "--root", str(readme_dev.root), "list-containers", "--all", "--json", "--no-size"
    )
    assert with_root.returncode == 0, with_root.stderr
    assert readme_box.name in [r["name"] for r in json.loads(with_root.stdout)]
    logs = run_cli(env, "--root", str(readme_dev.root), "dockeruser", "logs", readme_box.name)
    assert logs.returncode == 0 and "[SSH config entry] done in" in logs.stdout, logs.stderr
    # -v: more output. The box was made with -v: its checkout's progress lines are there;
    # the same make without -v (made and removed here, through --root) has none
    assert "check out branch: 100%" in readme_box.make.stderr, readme_box.make.stderr
    quiet_name = readme_dev.name("q")
    quiet = run_cli(
        env,
        "--root",
        str(readme_dev.root),
        "make-dev-container",
        quiet_name,
        "--branch",
        "main",
        "--json",
    )
    assert quiet.returncode == 0, quiet.stderr
    assert "[8/9] check out branch" in quiet.stderr and "100%" not in quiet.stderr
    assert (readme_dev.root / "containers" / quiet_name / "opt" / "src" / "README").is_file()
    gone = run_cli(
        env, "--root", str(readme_dev.root), "remove-dev-container", quiet_name, "--yes", "--purge"
    )
    assert gone.returncode == 0, gone.stderr
    assert not (readme_dev.root / "containers" / quiet_name / "opt").exists()


# ------------------------------------------------------------------ 10. the caller's SSH keys


def test_callers_ssh_keys_end_up_in_authorized_keys(
    readme_dev: DevEnv, readme_box: Box, engine: Any
) -> None:
    own_pub = (readme_dev.home / ".ssh" / "id_ed25519.pub").read_text().strip()
    code, out = engine.containers.get(readme_box.name).exec_run(
        ["cat", "/home/dev/.ssh/authorized_keys"]
    )
    assert code == 0 and own_pub in out.decode(), out
    # the folder and the file are the dev user's, private (sshd's StrictModes needs that)
    code, out = engine.containers.get(readme_box.name).exec_run(
        ["stat", "-c", "%a %U", "/home/dev/.ssh", "/home/dev/.ssh/authorized_keys"]
    )
    assert code == 0 and out.decode().split("\n")[:2] == ["700 dev", "600 dev"], out
    # and the caller's own key logs in (not devbox's), host key checked against devbox's file
    res = subprocess.run(
        [
            "ssh",
            "-F",
            "none",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-i",
            str(readme_dev.home / ".ssh" / "id_ed25519"),
            "-o",
            f"UserKnownHostsFile={readme_dev.root / 'ssh' / 'known_hosts'}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            f"HostKeyAlias={readme_box.name}",
            f"dev@{readme_box.summary['ip']}",
            "whoami",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert res.returncode == 0 and res.stdout.strip() == "dev", res.stderr


# ------------------------------------------------------------------ 8. error + hint lines


@pytest.mark.parametrize(
    "args",
    [
        ("make-dev-container", "Bad_Name", "--branch", "main"),
        ("make-dev-container", "@N@", "--branch", "no-such-branch"),
        ("remove-dev-container", "@N@", "--yes"),
        ("ssh", "@N@", "--", "true"),
        ("dockeruser", "clone", "@N@", "--count", "2"),
        ("dockeruser", "prune-combos", "--stopped-for", "soon"),
        ("dockeruser", "make-dev-container", "--no-such-flag"),
    ],
    ids=[
        "bad-name",
        "unknown-branch",
        "remove-unknown",
        "ssh-unknown",
        "clone-unknown",
        "bad-duration",
        "bad-flag",
    ],
)
def test_user_errors_are_one_error_line_and_one_hint_line(
    readme_dev: DevEnv, engine: Any, args: tuple[str, ...]
) -> None:
    name = f"dbxt{RUN_ID}nx{os.urandom(2).hex()}"
    res = run_cli(readme_dev.env, *[a.replace("@N@", name) for a in args])
    assert res.returncode == 2, res.stderr
    lines = stderr_lines(res)
    assert len(lines) == 2, res.stderr
    assert lines[0].startswith("error: ") and lines[1].startswith("hint: "), res.stderr
    assert len(lines[1]) > len("hint: ") + 5
    assert not engine.containers.list(all=True, filters={"name": f"^{name}"})


# ------------------------------------------------------------------ 7. exit 1, exit 130


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_make_exits_130_and_rolls_back(
    readme_dev: DevEnv, engine: Any, sig: signal.Signals
) -> None:
    from devbox.adapters.net import netlink
    from devbox.model import macs
    from devbox.services import lab as labsvc

    name = readme_dev.name("int")
    log = readme_dev.root / "logs" / f"{name}.log"
    proc = subprocess.Popen(
        devbox_argv(["make-dev-container", name, "--branch", "main"]),
        cwd=REPO,
        env={**os.environ, **readme_dev.env, "NO_COLOR": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # mid-make: the container runs and holds its LAN interface and DHCP lease
        waits.wait_for(
            lambda: (
                (log.exists() and "[attach LAN (DHCP)] done" in log.read_text())
                or proc.poll() is not None
            ),
            120,
            "the LAN step of the make",
            0.1,
        )
        assert proc.poll() is None, "the make finished before it could be interrupted"
        from devbox.services import nic

        assert [r for r in nic.store(readme_dev.cfg()).all() if r.container == name]
        proc.send_signal(sig)
        _out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    _no_trace(readme_dev, engine, name)
    mac = macs.mac_for_name(name)
    assert mac not in {lease.mac for lease in labsvc.status(readme_dev.cfg()).leases}
    assert not [
        link for link in netlink.links() if link.kind == "macvlan" and name[-8:] in link.name
    ]
    assert "undo:" in err


# ------------------------------------------------------------------ 4, 9, 11: clones


def test_clone_count_through_the_cli(readme_dev: DevEnv, readme_box: Box, engine: Any) -> None:
    env, src = readme_dev.env, readme_box.name
    res = run_cli(env, "dockeruser", "clone", src, "--count", "2", "--json", timeout=600)
    assert res.returncode == 0, res.stderr
    clones = json.loads(res.stdout)["clones"]
    names = [c["name"] for c in clones]
    assert names == [f"{src}-c1", f"{src}-c2"] and all(c["ok"] for c in clones), clones
    assert len({c["ip"] for c in clones} | {readme_box.summary["ip"]}) == 3
    for clone in names:
        out = run_cli(env, "ssh", clone, "--", "hostname; cat /opt/src/README")
        assert out.returncode == 0, out.stderr
        assert out.stdout.split("\n")[:2] == [clone, "devbox test repository"]
    ran = run_cli(env, "dockeruser", "run-on", "--clones-of", src, "--json", "--", "hostname")
    assert ran.returncode == 0, ran.stderr


def test_changed_host_key_is_refused_by_ssh_and_run_on(
    readme_dev: DevEnv, readme_box: Box, engine: Any
) -> None:
    """The tenant (root in its container) replaces the host keys and restarts sshd: devbox
    never accepts the new key (nothing on first use, nothing on change)."""
    env, src = readme_dev.env, readme_box.name
    victim = f"{src}-c1"
    before = run_cli(env, "ssh", victim, "--", "true")
    if before.returncode != 0:
        pytest.fail(f"clone {victim} is not reachable to begin with: {before.stderr}")
    ctr = engine.containers.get(victim)
    code, out = ctr.exec_run(
        ["sh", "-c", "rm -f /etc/ssh/ssh_host_*; ssh-keygen -A -q && systemctl restart ssh"]
    )
    assert code == 0, out
    res = run_cli(env, "ssh", victim, "--", "true")
    assert res.returncode != 0
    assert "host key" in res.stderr.lower() or "identification has changed" in res.stderr.lower(), (
        res.stderr
    )
    ran = run_cli(env, "dockeruser", "run-on", victim, "--json", "--", "true")
    assert ran.returncode != 0, ran.stdout
    assert "host key" in (ran.stdout + ran.stderr).lower(), ran.stdout + ran.stderr


def test_clone_refused_past_the_inotify_cap(
    readme_dev: DevEnv, readme_box: Box, engine: Any
) -> None:
    """The host's real room, plus some: refused before anything is made, with the fix."""
    from devbox.adapters.host import procfs

    room = procfs.inotify_room().containers
    # far enough past the room that containers stopped meanwhile by parallel runs cannot
    # make it fit; bounded in time in case the check were ever gone
    count = room + 25
    res = run_cli(
        readme_dev.env,
        "dockeruser",
        "clone",
        readme_box.name,
        "--count",
        str(count),
        "--prefix",
        f"{readme_box.name}-ino",
        timeout=120,
    )
    assert res.returncode == 3, res.stderr
    lines = stderr_lines(res)
    assert lines[0].startswith("error: ") and "fs.inotify.max_user_instances" in lines[0]
    assert lines[1].startswith("hint: ") and "sysctl -w fs.inotify.max_user_instances=" in lines[1]
    assert not engine.containers.list(all=True, filters={"name": f"^{readme_box.name}-ino"})


def test_remove_clones_of_through_the_cli(readme_dev: DevEnv, readme_box: Box, engine: Any) -> None:
    src = readme_box.name
    res = run_cli(readme_dev.env, "remove-dev-container", "--clones-of", src, "--yes", "--purge")
    assert res.returncode == 0, res.stderr
    assert not engine.containers.list(all=True, filters={"name": f"^{src}-c"})
    assert engine.containers.get(src).status == "running"


# ------------------------------------------------------------------ 5, 4: --patch, prune


P4_PORT = "perforce.example.com:1666"


def test_patch_changelist_then_prune_combos_purge(
    readme_dev: DevEnv, dev_image: str, engine: Any, tmp_path: Path
) -> None:
    """make-dev-container --product P --release R --patch CHANGE through the CLI, Perforce
    being the in-memory fake with P4Python's API (tests/fakes/p4fake.py, the one stand-in);
    then the stopped combo goes with prune-combos --purge."""
    branch = f"p4rel/{RUN_ID}"
    branches = tmp_path / "branches.toml"
    branches.write_text(
        f'[[branch]]\nname = "{branch}"\nvcs = "p4"\ndepot = "//depot/main"\n'
        f'image = "{dev_image}"\n'
    )
    products = tmp_path / "products.toml"
    products.write_text(
        f'[[product]]\nname = "widget"\nrelease = "{RUN_ID}"\n'
        f'image = "{dev_image}"\nbranch = "{branch}"\n'
    )
    env = {
        **readme_dev.env,
        "DEVBOX_BRANCHES_MAP": str(branches),
        "DEVBOX_PRODUCTS_MAP": str(products),
        "DEVBOX_P4_PORT": P4_PORT,
        "DEVBOX_P4_USER": "alice",
        "P4TICKETS": str(readme_dev.home / ".p4tickets"),
    }
    state = {
        "port": P4_PORT,
        "users": {"alice": None},
        "submit": {"//depot/main/a.c": "int a;\n", "//depot/main/sub/b.c": "int b;\n"},
        "shelves": [{"//depot/main/a.c": "int a = 42; /* the fix */\n"}],
    }
    fake = p4_fake(tmp_path / "p4state.json", state)  # one server for every call below
    res = run_cli_with_p4(
        env,
        fake,
        "make-dev-container",
        "--product",
        "widget",
        "--release",
        RUN_ID,
        "--patch",
        "@SHELF0@",
        "--json",
    )
    combo = ""
    try:
        assert res.returncode == 0, res.stderr
        made = json.loads(res.stdout)
        combo = made["name"]
        readme_dev.names.append(combo)
        assert made["action"] == "made"
        opt = Layout(readme_dev.root).opt_dir(combo)
        found = {p.relative_to(opt).as_posix(): p.read_text() for p in opt.rglob("*.c")}
        assert any(
            v == "int a = 42; /* the fix */\n" for k, v in found.items() if k.endswith("a.c")
        ), found
        assert any(v == "int b;\n" for k, v in found.items() if k.endswith("b.c")), found
        server = fake.server()  # what the service's job did on the (fake) Perforce server
        assert ("unshelve", ("-s", str(fake.shelves[0]))) in server.calls
        assert [spec["Root"] for spec in server.clients.values()] == [str(opt)]
        ctr = engine.containers.get(combo)
        assert ctr.labels["devbox.kind"] == "combo"
        assert ctr.labels["devbox.patches"] == made["patches"][0]
        # prune-combos: running combos are never candidates; a stopped one goes, /opt too
        dry = run_cli(
            env, "dockeruser", "prune-combos", "--stopped-for", "1s", "--json", "--dry-run"
        )
        assert combo not in json.loads(dry.stdout)["candidates"]
        assert run_cli(env, "dockeruser", "stop", combo).returncode == 0
        time.sleep(1.5)  # "stopped for 1s" must be true of it
        # (removing a Perforce combo deletes its workspace on the server: the fake again)
        pruned = run_cli_with_p4(
            env,
            fake,
            "dockeruser",
            "prune-combos",
            "--stopped-for",
            "1s",
            "--yes",
            "--purge",
            "--json",
        )
        assert pruned.returncode == 0, pruned.stderr
        assert combo in json.loads(pruned.stdout)["removed"]
        assert not engine.containers.list(all=True, filters={"name": f"^{combo}$"})
        assert not opt.exists()
        assert fake.server().clients == {}  # its workspace went with it
    finally:
        if combo and engine.containers.list(all=True, filters={"name": f"^{combo}$"}):
            run_cli_with_p4(env, fake, "remove-dev-container", combo, "--yes", "--purge")


# ------------------------------------------------------------------ 6. daemon --install


def test_daemon_install_writes_the_unit(readme_dev: DevEnv, tmp_path: Path) -> None:
    unit_dir = tmp_path / "units"
    res = run_cli(readme_dev.env, "common", "daemon", "--install", "--unit-dir", str(unit_dir))
    assert res.returncode == 0, res.stderr
    unit = (unit_dir / "devbox-daemon.service").read_text()
    assert "[Service]" in unit and "[Install]" in unit
    exec_start = [ln for ln in unit.splitlines() if ln.startswith("ExecStart=")]
    assert len(exec_start) == 1, unit
    assert f"--root {readme_dev.root} common daemon" in exec_start[0], exec_start
    argv0 = exec_start[0].removeprefix("ExecStart=").split()[0]
    assert Path(argv0).is_file() and os.access(argv0, os.X_OK), argv0
    # no systemd here (or not its unit directory): said clearly, with the command for later
    assert "systemctl enable --now devbox-daemon.service" in res.stderr, res.stderr
    assert "started" not in res.stderr


# ------------------------------------------------------------------ 12. registryserver gc


def _image_with_blob(engine: Any, base: str, tag: str, size: int) -> None:
    """``base`` plus one layer of ``size`` random bytes (unique: it dedupes with nothing)."""
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in (
            ("Dockerfile", f"FROM {base}\nCOPY blob /blob\n".encode()),
            ("blob", os.urandom(size)),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    engine.images.build(
        fileobj=buf, custom_context=True, tag=tag, rm=True, labels={TEST_LABEL: RUN_ID}
    )


def test_registry_gc_frees_space(engine: Any, busybox_image: str, tmp_path: Path) -> None:
    """Push an image, push another over its tag (the first is now untagged), gc: the first
    one's blobs are gone from the storage, the tagged one still resolves."""
    import shutil
    import socket

    from devbox.adapters import registry_api
    from devbox.adapters.host.diskusage import disk_usage
    from devbox.services import registry_site
    from tests.fixtures.images import cfg_for

    net = engine.networks.create(f"dbxt{RUN_ID}rgnet", driver="bridge", labels={TEST_LABEL: RUN_ID})
    net.reload()
    gateway = net.attrs["IPAM"]["Config"][0]["Gateway"].split("/")[0]
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        port = int(s.getsockname()[1])
    address = f"{gateway}:{port}"
    storage = tmp_path / "storage"
    home = tmp_path / "home"
    home.mkdir()
    name = f"dbxt{RUN_ID}rg"
    env = {
        "DEVBOX_ROOT": str(tmp_path / "root"),
        "HOME": str(home),
        "DEVBOX_TEST_RUN_ID": RUN_ID,
        "DEVBOX_REGISTRY_ADDRESS": address,
        "DEVBOX_REGISTRY_PORT": str(port),
        "DEVBOX_REGISTRY_STORAGE": str(storage),
        "DEVBOX_REGISTRY_NAME": name,
        "DEVBOX_REGISTRY_NETWORK": net.name,
        "DOCKER_CONFIG": str(home / ".docker"),
    }
    password = f"Gc-{RUN_ID}-{os.urandom(4).hex()}"
    repo = f"{address}/devbox/dbxt{RUN_ID}gc"
    try:
        up = run_cli(env, "registryserver", "up", timeout=600)
        assert up.returncode == 0, up.stderr
        added = run_cli(env, "registryserver", "user", "add", "alice", input=password + "\n")
        assert added.returncode == 0, added.stderr
        auth = {"username": "alice", "password": password}
        for size in (4_000_000, 1000):  # the big one first: it is the one left untagged
            _image_with_blob(engine, busybox_image, f"{repo}:latest", size)
            for line in engine.api.push(repo, "latest", auth_config=auth, stream=True, decode=True):
                assert "error" not in line, line
        before = disk_usage(storage)
        res = run_cli(env, "registryserver", "gc", "--json", timeout=600)
        assert res.returncode == 0, res.stderr
        result = json.loads(res.stdout)
        after = disk_usage(storage)
        assert after < before - 3_500_000, (before, after)  # the 4 MB layer is gone
        assert result["bytes_before"] - result["bytes_after"] > 3_500_000, result
        assert result["blobs_deleted"] >= 1
        cfg = cfg_for(env)
        admin = registry_site.endpoint(cfg, address)
        assert registry_api.manifest_digest(admin, f"devbox/dbxt{RUN_ID}gc", "latest")
        status = run_cli(env, "registryserver", "status", "--json")
        assert json.loads(status.stdout)["state"] == "running", status.stdout
    finally:
        run_cli(env, "registryserver", "down")
        for ctr in (name, f"{name}-gc"):
            try:
                engine.containers.get(ctr).remove(force=True)
            except Exception:  # noqa: BLE001 - not there
                pass
        # the first push's image lost its tag to the second: it is found by its digest
        for image in engine.images.list(filters={"label": f"{TEST_LABEL}={RUN_ID}"}):
            names = image.tags + (image.attrs.get("RepoDigests") or [])
            if any(n.startswith(repo) for n in names):
                engine.images.remove(image.id, force=True)
        net.remove()
        shutil.rmtree(registry_site.engine_ca_file(address).parent, ignore_errors=True)
        stop_service(tmp_path / "root")


# ------------------------------------------------------------------ 13. quickstart.sh demo


def test_quickstart_demo_end_to_end(engine: Any, dev_image: str, tmp_path: Path) -> None:
    """``bash scripts/quickstart.sh NAME`` as README's first command, on a root and a lab of
    this run (DEVBOX_* overrides; NAME carries the run id instead of 'demo'). Everything is
    installed and dockerd runs here already: the script must be a quick no-op for those."""
    from tests.fixtures.lab import lab_settings, teardown_lab

    lab = lab_settings("q", tmp_path / "root")
    home = tmp_path / "home"
    home.mkdir()
    name = f"demo-{RUN_ID}"
    env = {
        **os.environ,
        **lab.env,
        "HOME": str(home),
        "DEVBOX_LABELS": f"{TEST_LABEL}={RUN_ID}",
        "DEVBOX_SSH_TIMEOUT": "60",
    }
    env.pop("DEVBOX_BRANCHES_MAP", None)  # the shipped map: its 'demo' branch

    def quickstart() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "scripts/quickstart.sh", name],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )

    try:
        res = quickstart()
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
        assert f"Reach it with:  devbox ssh {name}" in res.stdout, res.stdout
        ctr = engine.containers.get(name)
        assert ctr.labels["devbox.branch"] == "demo"
        out = run_cli(env, "ssh", name, "--", "hostname; cat /opt/src/README")
        assert out.returncode == 0, out.stderr
        assert out.stdout.split("\n")[0] == name
        assert "devbox demo branch" in out.stdout
        # and run again (README: later runs take seconds): it finds the container
        again = quickstart()
        assert again.returncode == 0, again.stderr[-3000:]
        assert engine.containers.get(name).id == ctr.id
    finally:
        run_cli(env, "remove-dev-container", name, "--yes", "--purge")
        for ctr in engine.containers.list(all=True, filters={"name": f"^{name}$"}):
            ctr.remove(force=True)
        teardown_lab(lab)
