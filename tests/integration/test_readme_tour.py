"""README's "A short tour", run as typed (issue 18).

Every command line of the tour's code block is either run here, as written (placeholders
NAME/CTR/alice-main/plain replaced by this run's names, ``[...]`` optional parts dropped), with
one concrete effect checked, or listed in ``NOT_RUN`` with the reason. A tour line that is
neither (README gained or changed one) fails the test, and so does a stale entry here.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.cli import REPO, run_cli
from tests.conftest import RUN_ID
from tests.fixtures.devcontainers import DevEnv

pytestmark = [pytest.mark.integration, pytest.mark.slow]

README = REPO / "README.md"

# tour line (as in README, without its comment) -> why it is not run here
NOT_RUN: dict[str, str] = {
    "devbox dockeruser run-on --all-hosts --clones-of alice-main -- ./run-peer-test.sh": (
        "needs a second host: covered on lab up --hosts 2 by test_many_hosts.py (run-on "
        "--all-hosts finds h2's container, a name no host has is one failed row)"
    ),
    "devbox common setup [--dry-run]": (
        "installs packages and writes /etc: covered by test_wheel_install.py (--dry-run, "
        "JSON and text, nothing written; a real run only of the unit into a temp folder) and "
        "tests/unit/services/test_host_setup.py"
    ),
    "devbox dockeruser p4 setup --port perforce:1666 --user alice": (
        "needs a Perforce server: against the P4 fake in tests/unit/services/test_p4_setup.py "
        "(config written, ticket stored, the password in no file, argv or environment)"
    ),
    "devbox common daemon [--install]": (
        "foreground daemon runs until stopped and --install writes /etc/systemd/system; "
        "covered by tests/integration/test_daemon*.py and test_readme_claims "
        "test_daemon_install_writes_the_unit (--unit-dir)"
    ),
    "devbox containerauthor publish dev": (
        "needs the private registry up with a user; covered by test_registry.py"
    ),
    "devbox registryserver up | status | gc | down": (
        "a registry of its own per test (network, port, storage); covered by test_registry.py "
        "and test_readme_claims test_registry_gc_frees_space"
    ),
    "devbox registryserver user add NAME": (
        "needs the registry; covered by test_registry.py (password from stdin)"
    ),
    "devbox make-dev-container --product acme --release 5.2 --patch 1234 --patch 1250": (
        "the shipped release/5.2 branch is on a live Perforce server; --patch through the CLI "
        "with the P4 fake: test_readme_claims test_patch_changelist_then_prune_combos_purge"
    ),
    "devbox make-dev-container alice-dev --branch main --keep-running": (
        "idle stop needs the service started with idle_stop_after and a wait past it; "
        "covered by test_idle_stop.py (30s: idle one stopped, SSH session and --keep-running "
        "kept, idle_seconds in --json, the audit line)"
    ),
    "devbox dockeruser stats [NAME...] [--json]": (
        "covered by test_stats.py (memory limit, busy-loop CPU, table and JSON, exit 2)"
    ),
    "devbox dockeruser stats --watch [--for 60]": (
        "covered by test_stats.py (--watch --for 1, JSON lines and the table)"
    ),
    "devbox dockeruser snapshot alice-main [--tag before-fix]": (
        "covered by test_snapshots.py (the tour's [--tag] is dropped here, so the restore "
        "line could not name it): snapshot, restore, same IP and MAC, exit 2, --purge"
    ),
    "devbox dockeruser snapshots alice-main [--json]": "covered by test_snapshots.py",
    "devbox dockeruser restore alice-main before-fix": (
        "covered by test_snapshots.py (both back; a failing one undone)"
    ),
    "devbox dockeruser snapshot-remove alice-main before-fix": "covered by test_snapshots.py",
    "devbox dockeruser ide alice-main": (
        "covered by test_ide_completion.py (the link, its SSH entry reached by a real ssh)"
    ),
    "devbox dockeruser ide alice-main --jetbrains [--open]": (
        "covered by test_ide_completion.py (--jetbrains --json, --eclipse, --open: exit 3)"
    ),
    "devbox --install-completion": (
        "writes the caller's shell rc file; the scripts and Tab's answers: "
        "tests/unit/cli/test_completion.py and test_ide_completion.py"
    ),
}

# tour lines run with a documented change (the README value would cost too much here)
SUBSTITUTE: dict[str, tuple[str, str]] = {
    "devbox dockeruser clone alice-main --count 20": (
        "--count 20",
        "--count 2",
    ),  # 20 VM-style boots: minutes on the shared 2 cores
}


def tour_lines(text: str) -> list[str]:
    """The command lines of the "A short tour" code block, comments stripped."""
    section = text.split("## A short tour", 1)[1]
    block = section.split("```sh", 1)[1].split("```", 1)[0]
    out = []
    for raw in block.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            out.append(line)
    return out


def drop_optional(line: str) -> str:
    """Remove every ``[...]`` part (nested ones too)."""
    previous = None
    while previous != line:
        previous = line
        line = re.sub(r"\s*\[[^\[\]]*\]", "", line)
    return line.strip()


def test_tour_parser_drops_optional_parts() -> None:
    assert (
        drop_optional(
            "devbox common net attach CTR [--dhcp | --ip CIDR [--gateway IP]] [--parent IF]"
        )
        == "devbox common net attach CTR"
    )
    lines = tour_lines(README.read_text())
    assert "devbox common lab up [--vlan 42]" in lines
    assert all(line.startswith("devbox ") for line in lines), lines


def test_readme_tour_as_typed(
    readme_dev: DevEnv, engine: Any, os_image: str, lab_container: Callable[..., Any]
) -> None:
    dev = readme_dev
    lines = tour_lines(README.read_text())
    alice = dev.name("al")
    plain = dev.name("pl")
    ctr = lab_container(name=f"dbxt{RUN_ID}ctr{__import__('os').urandom(2).hex()}")
    names = {"alice-main": alice, "plain": plain, "CTR": ctr.name}
    ran: list[str] = []

    def argv(line: str) -> list[str]:
        text = drop_optional(line)
        if line in SUBSTITUTE:
            old, new = SUBSTITUTE[line]
            text = text.replace(old, new)
        words = shlex.split(text)
        assert words[0] == "devbox"
        return [names.get(w, w) for w in words[1:]]

    def run(
        line: str, input: str | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        assert line in lines, f"not a README tour line (any more?): {line}"
        assert line not in NOT_RUN
        ran.append(line)
        return run_cli(dev.env, *argv(line), input=input, timeout=timeout)

    def ok(line: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        res = run(line, input=input)
        assert res.returncode == 0, f"{line}\n{res.stdout}\n{res.stderr}"
        return res

    def container(name: str) -> Any:
        found = engine.containers.list(all=True, filters={"name": f"^{name}$"})
        return found[0] if found else None

    # -- common: the LAN, the host ------------------------------------------------------
    ok("devbox common lab up [--vlan 42]")  # up already (the fixture): converges, no error
    res = ok("devbox common lab status [--json]")
    assert dev.lab.name in res.stdout and "running" in res.stdout, res.stdout
    res = ok("devbox common doctor [--json]")
    assert "inotify" in (res.stdout + res.stderr), res.stdout
    res = ok("devbox common config show [--json]")
    assert "lab.subnet" in res.stdout and dev.lab.subnet in res.stdout, res.stdout
    ok("devbox common net attach CTR [--dhcp | --ip CIDR [--gateway IP]] [--parent IF] [--mac MAC]")
    res = ok("devbox common net show [CTR] [--json]")
    assert ctr.name in res.stdout and dev.lab.prefix in res.stdout, res.stdout
    ok("devbox common net detach CTR")
    from devbox.services import nic

    assert not [r for r in nic.store(dev.cfg()).all() if r.container == ctr.name]

    # -- containerauthor: cached builds ----------------------------------------------------
    ok("devbox containerauthor build-base debian-12")
    ok("devbox containerauthor build-image dev")
    res = ok("devbox containerauthor list-images [--json]")
    assert "devbox/dev" in res.stdout, res.stdout

    # -- dockeruser ----------------------------------------------------------------------
    res = ok("devbox dockeruser branches [--json]")
    assert "main" in res.stdout
    ok("devbox make-dev-container alice-main --branch main [--memory 8g --cpus 4 --pids 8192]")
    assert container(alice).status == "running"
    ok("devbox dockeruser make-os-container plain --os debian-12")
    assert container(plain).labels["devbox.kind"] == "os"
    res = ok("devbox list-containers [--all] [--combos] [--json]")
    assert alice in res.stdout and plain in res.stdout, res.stdout
    res = ok("devbox ssh alice-main [-- CMD ...]", input="hostname\nid -un\n")
    assert res.stdout.split()[-2:] == [alice, "dev"], res.stdout
    res = ok("devbox dockeruser exec alice-main -- systemctl is-system-running")
    assert res.stdout.strip() == "running", res.stdout
    res = ok("devbox dockeruser logs alice-main [-f]")
    assert "[SSH config entry] done in" in res.stdout
    res = ok("devbox dockeruser checkout alice-main [--update]")
    assert (dev.root / "containers" / alice / "opt" / "src" / "README").is_file()
    ip = json.loads(run_cli(dev.env, "dockeruser", "list-containers", "--json", "--no-size").stdout)
    ip_before = {r["name"]: r["ip"] for r in ip}[alice]
    ok("devbox dockeruser stop alice-main")
    assert container(alice).status == "exited"
    ok("devbox start-dev-container alice-main")
    listed = json.loads(
        run_cli(dev.env, "dockeruser", "list-containers", "--json", "--no-size").stdout
    )
    assert {r["name"]: r["ip"] for r in listed}[alice] == ip_before  # same MAC, same IP

    # peer testing: the script lives in the source's home, so every clone has it
    code, out = container(alice).exec_run(
        [
            "sh",
            "-c",
            "printf '#!/bin/sh\\necho peer-ok $(hostname)\\n' "
            "> /home/dev/run-peer-test.sh && chmod 755 /home/dev/run-peer-test.sh",
        ]
    )
    assert code == 0, out
    ok("devbox dockeruser clone alice-main --count 20")
    clones = [f"{alice}-c1", f"{alice}-c2"]
    assert all(container(c).status == "running" for c in clones)
    res = ok("devbox dockeruser run-on --clones-of alice-main -- ./run-peer-test.sh")
    for clone in clones:
        assert clone in res.stdout, res.stdout
    assert res.stdout.count("peer-ok") >= 2, res.stdout
    ok("devbox remove-dev-container --clones-of alice-main", input="y\n")
    assert all(container(c) is None for c in clones)
    res = ok("devbox dockeruser prune-combos --stopped-for 30d [--purge]")
    assert "no combo" in res.stderr + res.stdout
    ok("devbox remove-dev-container alice-main [--purge]", input="y\n")
    assert container(alice) is None
    assert (dev.root / "containers" / alice / "opt" / "src" / "README").is_file()  # kept

    # -- and the lab goes, exactly what 'up' made ---------------------------------------
    run_cli(dev.env, "remove-dev-container", plain, "--yes", "--purge")
    ok("devbox common lab down")
    from devbox.adapters.net import netlink, netns

    assert not Path(netns.named_path(dev.lab.name)).exists()
    assert netlink.get_link(dev.lab.uplink) is None

    # every tour line is run or listed, and nothing listed is stale
    missing = [ln for ln in lines if ln not in ran and ln not in NOT_RUN]
    assert not missing, f"README tour lines neither run nor listed in NOT_RUN: {missing}"
    stale = [ln for ln in [*NOT_RUN, *SUBSTITUTE] if ln not in lines]
    assert not stale, f"NOT_RUN/SUBSTITUTE entries no longer in README: {stale}"
