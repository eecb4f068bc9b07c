"""run-on over many containers (#17): devbox's key and known_hosts read once per run, not once
per connection; the connections shared out to forked worker processes, each result still
streamed as it comes in; an unknown or changed host key refused in a worker as before.

Real parts: one dev container (SRC) and three clones on the lab LAN, real sshd in each;
what the kernel saw (inotify opens, /proc children) is how the tests look, not a mock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devbox.paths import Layout
from tests.conftest import RUN_ID
from tests.fixtures.devcontainers import remove_clones_and_source
from tests.fixtures.engine import TEST_LABEL
from tests.fixtures.lab import LabEnv
from tests.inotify import IN_OPEN, Watch
from tests.waits import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

IN_CLOSE_NOWRITE = 0x10  # inotify(7)

COUNT = 3


@dataclass
class Clones:
    cfg: Any
    src: str
    names: list[str]
    ips: dict[str, str]


@pytest.fixture(scope="module")
def clones(lab: LabEnv, dev_image: str) -> Iterator[Clones]:
    from devbox import config
    from devbox.model.container_plan import MakeOptions
    from devbox.services import clone, container_make

    home = lab.root / f"home-runon{RUN_ID}"
    home.mkdir(exist_ok=True)
    cfg = config.load(
        environ={**lab.env, "DEVBOX_LABELS": f"{TEST_LABEL}={RUN_ID}", "HOME": str(home)},
        files=(),
    )
    src = f"dbxt{RUN_ID}ro"
    try:
        container_make.make(
            cfg, MakeOptions(name=src, branch="main", image=dev_image, checkout=False)
        )
        run = clone.clone(cfg, src, COUNT)
        assert all(c.ok for c in run.clones), [c.error for c in run.clones]
        yield Clones(cfg, src, [c.name for c in run.clones], {c.name: c.ip for c in run.clones})
    finally:
        remove_clones_and_source(cfg, src, images_label=f"{TEST_LABEL}={RUN_ID}")


def _opens(cfg: Any, names: list[str]) -> dict[str, int]:
    """How often one run over ``names`` opened devbox's key and its known_hosts (one at a
    time, jobs=1, and every close watched too: inotify merges an event into an identical one
    not read yet, so opens seen only as opens could read as fewer)."""
    from devbox.services import runon
    from devbox.state.container_records import devbox_key, known_hosts

    layout = Layout(cfg.root)
    files = {"key": devbox_key(layout), "known_hosts": known_hosts(layout)}
    watches = {what: Watch(path, IN_OPEN | IN_CLOSE_NOWRITE) for what, path in files.items()}
    try:
        results = runon.run_on(cfg, names, "hostname", timeout=120, jobs=1)
        events = {what: w.events() for what, w in watches.items()}
    finally:
        for w in watches.values():
            w.close()
    assert [(r.name, r.exit_code, r.stdout.strip()) for r in results] == [
        (n, 0, n) for n in names
    ], [r.error for r in results]
    return {what: sum(1 for mask, _ in seen if mask & IN_OPEN) for what, seen in events.items()}


def test_key_and_known_hosts_are_read_once_per_run(clones: Clones) -> None:
    """Before: paramiko's SSHClient opened devbox's key (three times) and known_hosts for every
    connection, and parsed every line of known_hosts each time (quadratic in the containers):
    9 and 3 opens over three clones. Now as many over three as over one: once per run."""
    one = _opens(clones.cfg, clones.names[:1])
    three = _opens(clones.cfg, clones.names)
    assert three == one, (one, three)
    assert three["known_hosts"] == 1, three


def _children() -> set[int]:
    """The live child processes of every thread of this process."""
    out: set[int] = set()
    for task in Path("/proc/self/task").iterdir():
        try:
            out |= {int(p) for p in (task / "children").read_text().split()}
        except OSError:
            continue
    return out


def test_connections_are_shared_out_to_worker_processes(clones: Clones) -> None:
    """With procs=2 the run forks two workers (seen in /proc while the commands sleep), each
    result reaches on_done in the calling thread as it comes in, in target order at the end,
    and no worker is left after."""
    from devbox.services import runon

    before = _children()
    seen: set[int] = set()
    calls: list[tuple[str, int]] = []
    box: dict[str, Any] = {}

    def on_done(result: runon.RunResult) -> None:
        calls.append((result.name, threading.get_ident()))

    def run() -> None:
        try:
            box["results"] = runon.run_on(
                clones.cfg,
                clones.names,
                "sleep 3; hostname",
                timeout=120,
                procs=2,
                on_done=on_done,
            )
        except BaseException as err:  # noqa: BLE001 - re-raised below
            box["error"] = err
        box["thread"] = threading.get_ident()

    worker = threading.Thread(target=run, name="run-on test")
    worker.start()

    def two_workers() -> bool:
        seen.update(_children() - before)
        return len(seen) >= 2 or not worker.is_alive()

    wait_for(two_workers, 120, what="run-on's worker processes")
    worker.join(180)
    assert not worker.is_alive()
    if "error" in box:
        raise box["error"]
    assert len(seen) == 2, seen
    results = box["results"]
    assert [(r.name, r.exit_code, r.stdout.strip()) for r in results] == [
        (n, 0, n) for n in clones.names
    ], [r.error for r in results]
    assert sorted(name for name, _ in calls) == sorted(clones.names)
    assert {ident for _, ident in calls} == {box["thread"]}
    assert not (_children() - before), "a worker process was left behind"


def test_unknown_and_changed_host_keys_are_refused_in_workers(clones: Clones) -> None:
    """devbox's known_hosts says another key for the first clone and nothing for the second:
    a worker refuses both (nothing learnt on first use, nothing accepted on change) and the
    third still runs."""
    from devbox.adapters import ssh
    from devbox.services import runon
    from devbox.state.container_records import known_hosts

    kh = known_hosts(Layout(clones.cfg.root))
    changed, unknown, fine = clones.names
    saved = {
        name: [
            " ".join(line.split()[1:3])
            for line in kh.read_text().splitlines()
            if line.split() and line.split()[0] == clones.ips[name]
        ]
        for name in (changed, unknown)
    }
    assert all(saved.values()), saved
    _private, other = ssh.generate_host_key("someone-else")
    try:
        ssh.record_host_keys(kh, [clones.ips[changed]], [other])
        ssh.forget_host(kh, [clones.ips[unknown]])
        results = {
            r.name: r for r in runon.run_on(clones.cfg, clones.names, "true", timeout=120, procs=2)
        }
    finally:
        for name, lines in saved.items():
            ssh.record_host_keys(kh, [clones.ips[name]], lines)
    assert results[changed].exit_code is None
    assert "host key" in results[changed].error and "changed" in results[changed].error
    assert results[unknown].exit_code is None
    assert "host key" in results[unknown].error and "unknown" in results[unknown].error
    assert results[fine].ok, results[fine].error
    after = runon.run_on(clones.cfg, clones.names, "true", timeout=120)
    assert [r.ok for r in after] == [True] * COUNT, [r.error for r in after]


def test_a_session_runs_no_update_motd_scripts(clones: Clones) -> None:
    """Every run-on target is an SSH session: Debian's pam_motd ran run-parts over
    /etc/update-motd.d at each one (env, run-parts, sh, uname: over 50 clones 3.6 CPU-s of
    the run became 2.2 without it). The image leaves it out; the static motd stays. A script
    planted there (as the container's root may) is not run by a session."""
    import docker

    from devbox.services import runon

    name = clones.names[0]
    marker = "/tmp/devbox-motd-ran"
    box = docker.from_env().containers.get(name)
    script = f"#!/bin/sh\ntouch {marker}\n"
    done = box.exec_run(
        [
            "sh",
            "-c",
            'printf "%s" "$1" > /etc/update-motd.d/99-probe && chmod 0755 '
            '/etc/update-motd.d/99-probe && rm -f "$2"',
            "sh",
            script,
            marker,
        ],
        user="root",
    )
    assert done.exit_code == 0, done.output
    try:
        results = runon.run_on(clones.cfg, [name], "true", timeout=120, jobs=1)
        assert [(r.name, r.exit_code) for r in results] == [(name, 0)], results[0].error
        seen = box.exec_run(["test", "-e", marker], user="root")
        assert seen.exit_code != 0, "a session ran /etc/update-motd.d"
        # the static motd is still shown at an interactive login: pam_motd noupdate stays
        pam = box.exec_run(["cat", "/etc/pam.d/sshd"], user="root").output.decode()
        active = [ln.split() for ln in pam.splitlines() if not ln.lstrip().startswith("#")]
        assert ["session", "optional", "pam_motd.so", "noupdate"] in active, pam
    finally:
        box.exec_run(["rm", "-f", "/etc/update-motd.d/99-probe", marker], user="root")
