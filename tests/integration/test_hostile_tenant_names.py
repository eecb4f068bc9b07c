"""Issue 11 "hostile tenant", attacks 4 and 5: container names never alias devbox's own state,
and devbox acts only on containers of its own root that it has a record of.

- Every name of one of devbox's own folders (logs, ssh, pki, ...) given to
  ``remove-dev-container --purge`` is a user error that deletes nothing.
- A make under a second root, with the name of a live container of the first root, is refused
  and leaves that container, its lease and its address alone.
- A ``docker commit`` of a devbox container run by hand (it inherits every devbox label) is not
  adopted by the daemon: no interface plumbed into it, no lease record, the source untouched.
- The root's own folders are not traversable by other host users.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests import waits
from tests.cli import run_devbox
from tests.conftest import RUN_ID
from tests.fixtures.devcontainers import DevEnv
from tests.fixtures.engine import TEST_LABEL
from tests.fixtures.service_jobs import stop_service

pytestmark = pytest.mark.integration
RESERVED = (
    "logs",
    "ssh",
    "pki",
    "registry",
    "lab",
    "leases",
    "run",
    "snapshots",
    "containers",
    "locks",
)


def cli(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return run_devbox(args, {**os.environ, **env}, timeout=timeout)


def try_make(dev: DevEnv, name: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """``dockeruser make-dev-container NAME --branch main --no-checkout EXTRA``."""
    return cli(
        dev.env,
        "dockeruser",
        "make-dev-container",
        name,
        "--branch",
        "main",
        "--no-checkout",
        *extra,
    )


def make(dev: DevEnv, name: str) -> dict[str, Any]:
    result = try_make(dev, name, "--json")
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def wait_for(what: str, check: Callable[[], Any], timeout: float = 30.0) -> Any:
    return waits.wait_for(check, timeout, what, interval=0.1)


def tree(root: Path) -> set[str]:
    out: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            out.add(os.path.relpath(os.path.join(dirpath, n), root))
    return out


def one_error(result: subprocess.CompletedProcess[str]) -> str:
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_reserved_names_remove_purge_deletes_nothing(devenv: DevEnv) -> None:
    root = devenv.root
    sentinels = []
    try:
        for folder in RESERVED:
            sentinel = root / folder / f"sentinel-{RUN_ID}"
            sentinel.parent.mkdir(parents=True, exist_ok=True)
            sentinel.write_text(folder)
            sentinels.append(sentinel)
            # a folder of devbox's own that looks like a container dir (attack 4 today)
            (root / folder / "opt").mkdir(exist_ok=True)
        before = tree(root)
        for folder in RESERVED:
            result = cli(
                devenv.env, "dockeruser", "remove-dev-container", folder, "--purge", "--yes"
            )
            assert result.returncode == 2, (folder, result.returncode, result.stdout, result.stderr)
            one_error(result)
            assert "removed" not in result.stdout, result.stdout
        after = tree(root)
        assert before - after == set(), sorted(before - after)
        for sentinel in sentinels:
            assert sentinel.read_text() == sentinel.parent.name
    finally:
        for sentinel in sentinels:
            sentinel.unlink(missing_ok=True)
            opt = sentinel.parent / "opt"
            if opt.is_dir() and not any(opt.iterdir()):
                opt.rmdir()


def test_make_under_another_root_leaves_the_live_container_alone(
    devenv: DevEnv, engine: Any, tmp_path: Path
) -> None:
    from devbox.services import network, nic

    name = devenv.name("own")
    summary = make(devenv, name)
    cfg = devenv.cfg()
    ctr_id = engine.containers.get(name).id
    other = tmp_path / "other-root"
    other_env = {**devenv.env, "DEVBOX_ROOT": str(other)}
    try:
        for args in (
            ("make-dev-container", name, "--branch", "main", "--no-checkout"),
            ("remove-dev-container", name, "--purge", "--yes"),
            ("stop", name),
            ("start-dev-container", name),
        ):
            result = cli(other_env, "dockeruser", *args)
            assert result.returncode == 2, (args, result.stdout, result.stderr)
            assert "belongs to another devbox root" in one_error(result), result.stderr
        # a lost state file in the container's own root: not "half-made", not removed
        state = devenv.root / "containers" / name / "state.json"
        saved = state.read_bytes()
        state.unlink()
        try:
            result = try_make(devenv, name)
            assert result.returncode == 2, result.stderr
            one_error(result)
        finally:
            state.write_bytes(saved)
        ctr = engine.containers.get(name)
        assert ctr.id == ctr_id and ctr.status == "running"
        att = network.wait_attached(cfg, name, timeout=20)
        assert att.ip == summary["ip"] and att.mac == summary["mac"]
        assert [r.container_id for r in nic.store(cfg).for_container(name)] == [ctr_id]
    finally:
        stop_service(other)  # root's CLI started a service for that root, and its store mount


def test_docker_commit_run_by_hand_is_not_adopted(devenv: DevEnv, engine: Any) -> None:
    from devbox.model import labels
    from devbox.services import daemon_control, network, nic
    from devbox.state import daemon_pid

    name = devenv.name("src")
    summary = make(devenv, name)
    cfg = devenv.cfg()
    daemon_control.ensure_running(cfg)
    source = engine.containers.get(name)
    before = [r.to_dict() for r in nic.store(cfg).for_container(name)]
    assert before and before[0]["container_id"] == source.id
    repo = f"dbxt{RUN_ID}commit"
    image = source.commit(repository=repo, tag="x")
    copy_name = devenv.name("cpy")
    copy = None
    log = devenv.root / "logs" / "daemon.log"
    try:
        copy = engine.containers.run(
            image.id,
            name=copy_name,
            detach=True,
            network_mode="none",
            entrypoint=["/bin/sleep"],
            command=["600"],
            labels={TEST_LABEL: RUN_ID},
        )
        copy.reload()
        # it carries every devbox label of the source, this root and the source's MAC
        assert copy.labels[labels.ROOT] == str(cfg.root)
        assert copy.labels[labels.MAC] == summary["mac"]
        daemon_pid = daemon_pid.running_pid(cfg)
        assert daemon_pid is not None
        os.kill(daemon_pid, 1)  # SIGHUP: reconcile now
        # the daemon says what it did with the copy (today's code plumbed it with the
        # source's MAC, or failed trying while the source holds that MAC)
        verdict = wait_for(
            "the daemon's verdict on the copy",
            lambda: [ln for ln in log.read_text().splitlines() if copy_name in ln],
        )
        assert "not adopted" in verdict[0], verdict
        code, out = copy.exec_run(["ls", "/sys/class/net"])
        assert code == 0 and out.decode().split() == ["lo"], out
        assert nic.store(cfg).for_container(copy_name) == []
        assert not any(f"{copy_name}: plumbed" in ln for ln in log.read_text().splitlines())
        after = [r.to_dict() for r in nic.store(cfg).for_container(name)]
        assert [(r["container_id"], r["mac"], r["ip"]) for r in after] == [
            (r["container_id"], r["mac"], r["ip"]) for r in before
        ]
        assert network.wait_attached(cfg, name, timeout=20).ip == summary["ip"]
    finally:
        if copy is not None:
            copy.remove(force=True)
        engine.images.remove(image.id, force=True)


def test_root_folders_are_private(devenv: DevEnv) -> None:
    name = devenv.name("mode")
    make(devenv, name)
    root = devenv.root
    assert stat.S_IMODE(root.stat().st_mode) & 0o022 == 0
    for folder in ("containers", "ssh", "pki", "leases", "lab", "run", "logs"):
        path = root / folder
        assert path.is_dir(), folder
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, (folder, oct(path.stat().st_mode))
    # per-container state lives in its own subtree, never beside devbox's folders
    assert (root / "containers" / name / "state.json").is_file()
    assert (root / "containers" / name / "opt").is_dir()
    assert not (root / name).exists()


def test_a_name_is_never_an_id_prefix(devenv: DevEnv, engine: Any) -> None:
    """The engine resolves an ID prefix as well as a name: a user naming ``cafe12`` must not
    reach the container whose ID starts so (another user's), nor act on it."""
    from devbox.model.container_plan import MakeOptions
    from devbox.services import container_make

    target = None
    for attempt in range(16):  # bounded: a container ID starting with a letter (a valid name)
        name = devenv.name(f"id{attempt}")
        container_make.make(devenv.cfg(), MakeOptions(name=name, branch="main", checkout=False))
        cid = engine.containers.get(name).id
        if cid[0] in "abcdef":
            target = (name, cid[:12])
            break
    assert target is not None, "no container ID started with a letter in 16 tries"
    name, prefix = target
    env = {**os.environ, **devenv.env, "NO_COLOR": "1"}
    assert run_devbox(["dockeruser", "logs", prefix], env, timeout=120).returncode == 2
    for argv in (
        ["dockeruser", "stop", prefix],
        ["dockeruser", "remove-dev-container", prefix, "--yes", "--purge"],
    ):
        result = run_devbox(argv, env, timeout=120)
        assert result.returncode == 2, (argv, result.stdout, result.stderr)
        assert f"no container named '{prefix}'" in result.stderr, result.stderr
    st = engine.containers.get(name)
    assert st.status == "running", st.status
