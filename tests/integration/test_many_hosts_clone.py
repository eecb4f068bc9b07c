"""Many hosts (#15): ``clone SRC --count 6 --hosts auto`` on ``lab up --hosts 2``. SRC (a dev
container on this machine, with links its tenant planted in /opt) is frozen once; the
clones land on both hosts (``local`` and ``h2``) with distinct addresses from the lab's one
dnsmasq, distinct MACs and machine-ids; ``run-on --all-hosts --clones-of SRC`` returns 6
results. SRC's /opt snapshot reaches h2 once for the run (h2's audit log has one /opt file
received, h2 holds one snapshot, every h2 clone's record names it), its links still links.
A --hosts naming no known host, or a host that does not answer, is refused before anything
is made anywhere.

On a lab of its own (tag ``c``, subnet 10.214.0.0/24: see tests/fixtures/two_hosts.py).
Nothing leaves this machine: the only SSH targets are lab addresses.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli import start_devbox
from tests.conftest import RUN_ID
from tests.fixtures.lab import devbox_cli
from tests.fixtures.two_hosts import TwoHosts, json_of, load_image, two_hosts_lab
from tests.refusals import assert_refused
from tests.waits import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SUBNET_OCTET = 0
COUNT = 6

TENANT = """
set -e
mkdir -p /opt/work
head -c 300000 /dev/urandom > /opt/work/data.bin
echo hello > /opt/work/hello.txt
ln -s /etc/shadow /opt/shadow
ln -s ../../etc /opt/work/up
chown -R dev:dev /opt/work
"""


@pytest.fixture(scope="module")
def two_hosts(engine: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoHosts]:
    with two_hosts_lab(tmp_path_factory, "c", SUBNET_OCTET) as t:
        yield t


def _spools(root: Path | str) -> list[str]:
    moves = Path(root) / "run" / "moves"
    return sorted(os.listdir(moves)) if moves.exists() else []


def _snapshots(root: Path | str) -> list[str]:
    snaps = Path(root) / "snapshots"
    return sorted(os.listdir(snaps)) if snaps.exists() else []


def _audit(root: Path | str) -> list[dict[str, Any]]:
    path = Path(root) / "logs" / "audit.log"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _names_on(t: TwoHosts, where: list[str]) -> list[str]:
    rows = json_of(devbox_cli(t.cli, *where, "dockeruser", "list-containers", "--all", "--json"))
    return sorted(r["name"] for r in rows)


def _remove_clones(t: TwoHosts, where: list[str], source: str) -> None:
    devbox_cli(
        t.cli, *where, "dockeruser", "remove-dev-container", "--clones-of", source, "--yes",
        timeout=600,
    )  # fmt: skip


@pytest.fixture(scope="module")
def source(two_hosts: TwoHosts, engine: Any, dev_image: str) -> Iterator[str]:
    """SRC on this machine, with the tenant's files in /opt; h2 holds its image (what a
    publish and a pull give a real host), so only the snapshot's own layer travels."""
    t = two_hosts
    load_image(engine, dev_image, t.host["docker_host"]).close()
    name = f"dbxt{RUN_ID}csrc"
    try:
        made = devbox_cli(
            t.cli, "dockeruser", "make-dev-container", name, "--branch", "demo",
            "--image", dev_image, "--no-checkout", "--json", timeout=600,
        )  # fmt: skip
        json_of(made)
        done = devbox_cli(t.cli, "dockeruser", "exec", name, "--", "sh", "-c", TENANT)
        assert done.returncode == 0, done.stderr
        yield name
    finally:
        _remove_clones(t, ["--host", "h2"], name)
        _remove_clones(t, [], name)
        devbox_cli(
            t.cli, "dockeruser", "remove-dev-container", name, "--purge", "--yes", timeout=300
        )


def test_a_bad_hosts_list_is_refused_before_anything_is_made(
    two_hosts: TwoHosts, source: str
) -> None:
    t = two_hosts
    before = (_names_on(t, []), _names_on(t, ["--host", "h2"]))
    snaps = (_snapshots(t.env.root), _snapshots(t.host["root"]))
    bad = devbox_cli(
        t.cli, "dockeruser", "clone", source, "--count", "2", "--hosts", "local,nosuch"
    )
    assert_refused(bad, 2, "--hosts: no host named 'nosuch'", "hosts list")
    twice = devbox_cli(t.cli, "dockeruser", "clone", source, "--count", "2", "--hosts", "h2,h2")
    assert_refused(twice, 2, "more than once")
    assert (_names_on(t, []), _names_on(t, ["--host", "h2"])) == before
    assert (_snapshots(t.env.root), _snapshots(t.host["root"])) == snaps
    assert _spools(t.env.root) == [] and _spools(t.host["root"]) == []


def test_clone_hosts_auto_spreads_over_both_hosts_and_sends_opt_once(
    two_hosts: TwoHosts, source: str
) -> None:
    from devbox.model.lab_plan import parse_leases

    t, host = two_hosts, two_hosts.host
    puts_before = [a for a in _audit(host["root"]) if a.get("command") == "import_put"]
    done = devbox_cli(
        t.cli, "dockeruser", "clone", source, "--count", str(COUNT), "--hosts", "auto",
        "--memory", "256m", "--json", timeout=1200,
    )  # fmt: skip
    print(done.stderr[-3000:])
    run = json_of(done)
    clones = run["clones"]
    assert len(clones) == COUNT and all(c["ok"] for c in clones), clones
    on = {c["host"] for c in clones}
    assert on == {"local", "h2"}, clones
    print(json.dumps({k: v for k, v in run.items() if k != "clones"}, indent=1))
    # distinct addresses, all leases of the lab's one dnsmasq, distinct MACs
    ips = [c["ip"] for c in clones]
    assert len(set(ips)) == COUNT and all(ip.startswith(t.env.prefix) for ip in ips), ips
    assert len({c["mac"] for c in clones}) == COUNT
    leases = {le.ip: le for le in parse_leases((t.env.root / "lab" / "dnsmasq.leases").read_text())}
    assert all(leases[c["ip"]].hostname == c["name"] for c in clones), leases
    # each on the host the result says, and nowhere else
    here, there = _names_on(t, []), _names_on(t, ["--host", "h2"])
    for c in clones:
        assert (c["name"] in here, c["name"] in there) == (c["host"] == "local", c["host"] == "h2")

    # SRC's /opt crossed to h2 once: one /opt file received in h2's audit log, one snapshot
    # on h2, every h2 clone's record naming it; the tenant's links arrived as links
    puts = [a for a in _audit(host["root"]) if a.get("command") == "import_put"]
    new = puts[len(puts_before) :]
    assert sorted(a["args"]["part"] for a in new) == ["image", "opt"], new
    (snap,) = _snapshots(host["root"])
    h2_clones = [c["name"] for c in clones if c["host"] == "h2"]
    for name in h2_clones:
        record = json.loads((Path(host["root"]) / "containers" / name / "clone.json").read_text())
        assert record["snapshot"] == snap and record["source"] == source
    opt = Path(host["root"]) / "snapshots" / snap / "opt"
    assert os.readlink(opt / "shadow") == "/etc/shadow"
    assert os.readlink(opt / "work" / "up") == "../../etc"
    assert (opt / "work" / "hello.txt").read_text() == "hello\n"
    assert run["hosts"]["h2"]["sent_bytes"]["opt"] > 300000
    assert _spools(t.env.root) == [] and _spools(host["root"]) == []

    # run-on finds all six wherever they are; each has its own machine-id and hostname
    ran = devbox_cli(
        t.cli, "dockeruser", "run-on", "--all-hosts", "--clones-of", source, "--json", "--",
        "cat /etc/machine-id /etc/hostname /opt/work/hello.txt", timeout=600,
    )  # fmt: skip
    results = json_of(ran)
    assert len(results) == COUNT and all(r["ok"] for r in results), results
    assert sorted((r["host"], r["name"]) for r in results) == sorted(
        (c["host"], c["name"]) for c in clones
    )
    seen = [r["stdout"].split() for r in results]
    assert len({s[0] for s in seen}) == COUNT, seen  # machine-ids
    assert all(s[1] == r["name"] and s[2] == "hello" for s, r in zip(seen, results, strict=True)), (
        seen
    )

    # the clones on h2 go with the usual removal there; the snapshot with them
    _remove_clones(t, ["--host", "h2"], source)
    assert _snapshots(host["root"]) == []


def test_a_name_taken_on_another_host_is_refused_before_anything_is_made(
    two_hosts: TwoHosts, source: str
) -> None:
    """Kept /opt folders on h2 (no container: not in any listing) named like every clone h2
    could get: h2 refuses its reservation, and nothing is made anywhere (no clone, no
    snapshot, no spool here or there)."""
    import shutil

    t, host = two_hosts, two_hosts.host
    kept = [Path(host["root"]) / "containers" / f"{source}-c{i}" for i in range(1, 41)]
    before = (_names_on(t, []), _names_on(t, ["--host", "h2"]))
    snaps = (_snapshots(t.env.root), _snapshots(t.host["root"]))
    try:
        for folder in kept:
            folder.mkdir(parents=True)
        taken = devbox_cli(
            t.cli, "dockeruser", "clone", source, "--count", "2", "--hosts", "local,h2",
            "--memory", "256m", timeout=300,
        )  # fmt: skip
        assert_refused(taken, 2, "taken on this host already", "--prefix")
    finally:
        for folder in kept:
            shutil.rmtree(folder, ignore_errors=True)
    assert (_names_on(t, []), _names_on(t, ["--host", "h2"])) == before
    assert (_snapshots(t.env.root), _snapshots(t.host["root"])) == snaps
    assert _spools(t.env.root) == [] and _spools(host["root"]) == []


def test_a_host_that_fails_mid_run_keeps_nothing_and_the_others_clones_stay(
    two_hosts: TwoHosts, source: str
) -> None:
    """h2's service dies while SRC's /opt streams to it: the run goes on on this machine,
    whose clones stay; h2 makes none; the run exits 4 naming h2. Then a run naming h2 is
    refused (exit 3) before anything is made. Runs last: it stops h2's service."""
    t, host = two_hosts, two_hosts.host
    done = devbox_cli(t.cli, "dockeruser", "exec", source, "--", "sh", "-c",
                      "head -c 150000000 /dev/zero > /opt/work/slow.bin")  # fmt: skip
    assert done.returncode == 0, done.stderr
    spool = Path(host["root"]) / "run" / "moves"
    record = json.loads((Path(host["root"]).parent / "host.json").read_text())
    argv = ["dockeruser", "clone", source, "--count", "4", "--hosts", "local,h2",
            "--memory", "256m", "--json"]  # fmt: skip
    out_path, err_path = t.base / "cl.out", t.base / "cl.err"
    with out_path.open("w") as out, err_path.open("w") as err:
        proc = start_devbox(argv, t.cli, out, err)
        try:
            wait_for(
                lambda: any(spool.glob("*/.*.part")) or proc.poll() is not None,
                300,
                "the upload to h2 to begin",
            )
            os.kill(record["service"]["pid"], signal.SIGTERM)
            code = proc.wait(600)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(30)
    said = err_path.read_text()
    assert code == 4, said
    run = json.loads(out_path.read_text())
    mine = [c for c in run["clones"] if c["host"] == "local"]
    theirs = [c for c in run["clones"] if c["host"] == "h2"]
    assert mine and theirs, run
    assert all(c["ok"] for c in mine) and not any(c["ok"] for c in theirs), run
    assert run["hosts"]["h2"]["error"], run
    here = _names_on(t, [])
    assert all(c["name"] in here for c in mine)
    import docker

    h2 = docker.DockerClient(base_url=host["docker_host"], timeout=60)
    try:
        on_h2 = [c.name for c in h2.containers.list(all=True)]
    finally:
        h2.close()
    assert not any(c["name"] in on_h2 for c in theirs), on_h2
    assert _snapshots(host["root"]) == []
    # what h2's dead service had spooled stays there until it is back (printed, not checked)
    print("h2 spool after its service died:", sorted(str(p) for p in spool.glob("*/*")))
    assert _spools(t.env.root) == []  # the export went, the local share's snapshot stays
    _remove_clones(t, [], source)

    # h2's service is down now: a run naming it is refused before anything is made
    wait_for(lambda: not Path(host["service_socket"]).exists(), 60, "h2's service to stop")
    before, snaps = _names_on(t, []), _snapshots(t.env.root)
    down = devbox_cli(t.cli, "dockeruser", "clone", source, "--count", "2", "--hosts", "local,h2")
    assert_refused(down, 3, "--hosts: h2 does not answer")
    assert _names_on(t, []) == before and _snapshots(t.env.root) == snaps
    assert _spools(t.env.root) == []
