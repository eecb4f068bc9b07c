"""Many hosts (#15): ``move NAME --to HOST`` on ``lab up --hosts 2``. A dev container made on
this machine, with files its tenant wrote in /opt (a symlink to /etc/shadow, a file with odd
permissions), moves to h2 and back: the same MAC and so the same address from the lab's one
dnsmasq, the same /opt (checksums, modes, owners; the symlink still a symlink, never
dereferenced), the same SSH host key (``ssh NAME`` through devbox reaches it there), shown
on h2 only by the fleet view. A move that fails -- interrupted while /opt streams, or to a
host whose service is down -- leaves the source running with the same address and /opt,
and nothing at the destination.

On a lab of its own (tag ``x``, subnet 10.214.1.0/24: the shared ``lab`` fixture picks
3..252, test_many_hosts_placement 2, test_lab_hosts 253, test_many_hosts 254). Nothing
leaves this machine: the only SSH targets are lab addresses (h2's, and the container's).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli import start_devbox
from tests.conftest import RUN_ID
from tests.fixtures.lab import devbox_cli
from tests.fixtures.two_hosts import TwoHosts, two_hosts_lab
from tests.fixtures.two_hosts import json_of as _json
from tests.refusals import assert_refused
from tests.waits import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SUBNET_OCTET = 1
BIG_MB = int(os.environ.get("DEVBOX_TEST_MOVE_MB", "2"))  # the bench figure: 200


@pytest.fixture(scope="module")
def two_hosts(engine: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoHosts]:
    """h2 and the client, on this test's lab (tests/fixtures/two_hosts.py)."""
    with two_hosts_lab(tmp_path_factory, "x", SUBNET_OCTET) as t:
        yield t


def _tree(top: Path) -> dict[str, tuple[int, int, int, str]]:
    """path -> (mode, uid, gid, sha256 or link text) of everything below ``top``, read from
    the host without following a link."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                what = "-> " + os.readlink(path)
            elif stat.S_ISREG(st.st_mode):
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
                with os.fdopen(fd, "rb") as fh:
                    what = hashlib.file_digest(fh, "sha256").hexdigest()
            else:
                what = "dir"
            out[str(path.relative_to(top))] = (st.st_mode, st.st_uid, st.st_gid, what)
    return out


def _opt(root: Path | str, name: str) -> Path:
    return Path(root) / "containers" / name / "opt"


def _exec(t: TwoHosts, where: list[str], name: str, script: str) -> str:
    done = devbox_cli(t.cli, *where, "dockeruser", "exec", name, "--", "sh", "-c", script)
    assert done.returncode == 0, done.stderr
    return done.stdout


TENANT = """
set -e
mkdir -p /opt/work/deep
head -c 70000 /dev/urandom > /opt/work/deep/data.bin
echo hello > /opt/work/hello.txt
ln -s /etc/shadow /opt/shadow
ln -s ../../etc /opt/work/up
echo odd > /opt/odd && chmod 1604 /opt/odd && chown 4242:4343 /opt/odd
chown -R dev:dev /opt/work
"""


def _make(t: TwoHosts, name: str, image: str) -> dict[str, Any]:
    made = devbox_cli(
        t.cli, "dockeruser", "make-dev-container", name, "--branch", "demo",
        "--image", image, "--no-checkout", "--json", timeout=600,
    )  # fmt: skip
    result = _json(made)
    _exec(t, [], name, TENANT)
    return result


def _remove(t: TwoHosts, where: list[str], name: str) -> None:
    devbox_cli(
        t.cli, *where, "dockeruser", "remove-dev-container", name, "--purge", "--yes",
        timeout=300,
    )  # fmt: skip


def _fleet(t: TwoHosts, name: str) -> list[tuple[str, str]]:
    rows = _json(
        devbox_cli(t.cli, "dockeruser", "list-containers", "--all-hosts", "--all", "--json")
    )
    return [(r["host"], r["ip"]) for r in rows if r["name"] == name]


def _spools(root: Path | str) -> list[str]:
    moves = Path(root) / "run" / "moves"
    return sorted(os.listdir(moves)) if moves.exists() else []


def test_move_to_h2_and_back_keeps_mac_ip_opt_and_host_key(
    two_hosts: TwoHosts, engine: Any, dev_image: str
) -> None:
    t, host = two_hosts, two_hosts.host
    name = f"dbxt{RUN_ID}xmv"
    try:
        made = _make(t, name, dev_image)
        before = _tree(_opt(t.env.root, name))
        assert before["shadow"][3] == "-> /etc/shadow" and before["odd"][0] & 0o7777 == 0o1604

        moved = devbox_cli(t.cli, "dockeruser", "move", name, "--to", "h2", "--json", timeout=900)
        result = _json(moved)
        print(f"move to h2 (small /opt): {result['seconds']}s\n{moved.stderr}")
        assert (result["ip"], result["mac"]) == (made["ip"], made["mac"]), result
        assert (result["from"], result["to"]) == ("local", "h2")
        assert _fleet(t, name) == [("h2", made["ip"])]  # on h2 only
        assert not _opt(t.env.root, name).parent.exists()  # the original went, /opt too
        after = _tree(_opt(host["root"], name))
        assert after == before  # every file, mode and owner; the link is still a link
        assert os.path.islink(_opt(host["root"], name) / "shadow")
        assert _spools(t.env.root) == [] and _spools(host["root"]) == []
        # the same machine: devbox's ssh through --host h2 checks the host key it had
        said = devbox_cli(t.cli, "--host", "h2", "dockeruser", "ssh", name, "--", "cat",
                          "/opt/work/hello.txt", "/etc/hostname")  # fmt: skip
        assert said.returncode == 0, said.stderr
        assert said.stdout.split() == ["hello", name]

        # and back, with a bigger /opt written there (the bench figure: DEVBOX_TEST_MOVE_MB)
        _exec(t, ["--host", "h2"], name, f"head -c {BIG_MB << 20} /dev/urandom > /opt/big")
        bigger = _tree(_opt(host["root"], name))
        back = devbox_cli(
            t.cli, "--host", "h2", "dockeruser", "move", name, "--to", "local", "--json",
            timeout=900,
        )  # fmt: skip
        result = _json(back)
        print(f"move back to local ({BIG_MB} MB more in /opt): {result['seconds']}s\n{back.stderr}")
        assert (result["ip"], result["mac"]) == (made["ip"], made["mac"])
        assert _fleet(t, name) == [("local", made["ip"])]
        assert _tree(_opt(t.env.root, name)) == bigger
        said = devbox_cli(t.cli, "dockeruser", "ssh", name, "--", "cat", "/opt/work/hello.txt")
        assert said.returncode == 0 and said.stdout.strip() == "hello", said.stderr
        # removing it takes the image the move made with it
        _remove(t, [], name)
        assert [x for i in engine.images.list() for x in i.tags if f"/{name}:" in x] == []
    finally:
        _remove(t, ["--host", "h2"], name)
        _remove(t, [], name)


def test_a_failed_move_leaves_the_source_as_it_was(
    two_hosts: TwoHosts, engine: Any, dev_image: str
) -> None:
    t, host = two_hosts, two_hosts.host
    name = f"dbxt{RUN_ID}xfail"
    try:
        made = _make(t, name, dev_image)
        _exec(t, [], name, "head -c 100000000 /dev/urandom > /opt/work/slow.bin")
        before = _tree(_opt(t.env.root, name))

        # interrupted (Ctrl-C) while the files stream to h2: h2 keeps nothing, the source
        # runs again with its address and /opt
        spool = Path(host["root"]) / "run" / "moves"
        with (t.base / "mv.out").open("w") as out, (t.base / "mv.err").open("w") as err:
            proc = start_devbox(["dockeruser", "move", name, "--to", "h2"], t.cli, out, err)
            try:
                wait_for(
                    lambda: any(spool.glob("*/.*.part")) or proc.poll() is not None,
                    300,
                    "the move's upload to h2 to begin",
                )
                proc.send_signal(signal.SIGINT)
                code = proc.wait(300)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(30)
        said = (t.base / "mv.err").read_text()
        assert code != 0, said
        assert _fleet(t, name) == [("local", made["ip"])], said
        rows = _json(devbox_cli(t.cli, "dockeruser", "list-containers", "--json"))
        assert [r["state"] for r in rows if r["name"] == name] == ["running"], rows
        assert _tree(_opt(t.env.root, name)) == before
        assert not _opt(host["root"], name).parent.exists()
        assert _spools(host["root"]) == [] and _spools(t.env.root) == []
        assert [x for i in engine.images.list() for x in i.tags if f"/{name}:" in x] == []
        again = devbox_cli(t.cli, "dockeruser", "ssh", name, "--", "cat", "/opt/work/hello.txt")
        assert again.returncode == 0 and again.stdout.strip() == "hello", again.stderr

        # h2's service down: refused before the source is touched (not even stopped)
        started = engine.containers.get(name).attrs["State"]
        record = json.loads((Path(host["root"]).parent / "host.json").read_text())
        os.kill(record["service"]["pid"], signal.SIGTERM)
        wait_for(lambda: not Path(host["service_socket"]).exists(), 60, "h2's service to stop")
        down = devbox_cli(t.cli, "dockeruser", "move", name, "--to", "h2", timeout=300)
        assert_refused(down, 3, "the devbox service is not running")
        now = engine.containers.get(name).attrs["State"]
        assert now["Running"] and now["StartedAt"] == started["StartedAt"]  # never stopped
        assert _fleet(t, name)[0] == ("local", made["ip"])
        assert _tree(_opt(t.env.root, name)) == before
        assert _spools(t.env.root) == []
    finally:
        _remove(t, [], name)
