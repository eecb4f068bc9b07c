"""``devbox dockeruser stats`` against a real dev container through the host service: the
memory limit it shows is the one make set, a busy loop inside shows as CPU, the row names its
owner and branch, ``--watch --for`` ends by itself, and an unknown name is exit 2 with nothing
printed on stdout."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.fixtures.devcontainers import DevEnv
from tests.integration.test_dev_containers import cli, make
from tests.waits import wait_for

pytestmark = pytest.mark.integration

BUSY = "echo $$ > /run/devbox-test-busy.pid; while :; do :; done"


def stats_rows(devenv: DevEnv, *args: str) -> list[dict[str, Any]]:
    result = cli(devenv, "dockeruser", "stats", "--json", *args, timeout=120)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert isinstance(rows, list)
    return rows


def test_stats_shows_the_limit_make_set_and_a_busy_loops_cpu(devenv: DevEnv, engine: Any) -> None:
    name = devenv.name("st")
    make(devenv, name, "--memory", "512m", "--cpus", "1")
    ctr = engine.containers.get(name)

    (row,) = stats_rows(devenv, name)
    assert row["name"] == name
    assert row["memory_limit"] == 512 << 20 == int(ctr.labels["devbox.limits.memory"])
    assert row["owner"] == "root" and row["branch"] == "main" and row["state"] == "running"
    assert 0 < row["memory_used"] < row["memory_limit"]
    assert row["pids"] >= 1
    assert row["net_rx"] > 0  # its DHCP lease came over the lab LAN
    assert row["opt_bytes"] > 0  # the checkout

    # without names: every running devbox container of this root, this one among them
    assert name in {r["name"] for r in stats_rows(devenv)}

    ctr.exec_run(["sh", "-c", BUSY], detach=True)
    try:

        def busy() -> dict[str, Any] | None:
            (now,) = stats_rows(devenv, name, "--no-size")
            return now if (now["cpu_percent"] or 0) > 20 else None

        hot = wait_for(busy, 90, "the busy loop's CPU % in stats", interval=1.0)
        assert hot["opt_bytes"] is None  # --no-size
    finally:
        ctr.exec_run(["sh", "-c", "kill $(cat /run/devbox-test-busy.pid)"])

    # --watch ends by itself with --for; with --json one line per refresh
    watched = cli(
        devenv, "dockeruser", "stats", name, "--watch", "--for", "1", "--json", timeout=120
    )
    assert watched.returncode == 0, watched.stderr
    lines = watched.stdout.splitlines()
    assert 1 <= len(lines) <= 3, watched.stdout
    assert [r["name"] for r in json.loads(lines[0])] == [name]

    # the table, once and watched (not a terminal: the last refresh is printed)
    for extra in ((), ("--watch", "--for", "1")):
        shown = cli(devenv, "dockeruser", "stats", name, *extra, timeout=120)
        assert shown.returncode == 0, shown.stderr
        assert name in shown.stdout and "512.0 MiB" in shown.stdout, shown.stdout


def test_stats_of_an_unknown_or_bad_name_is_exit_2(devenv: DevEnv) -> None:
    for bad in (devenv.name("nosuch"), "Bad_Name!"):
        result = cli(devenv, "dockeruser", "stats", bad, "--json", timeout=120)
        assert result.returncode == 2, (bad, result.stdout, result.stderr)
        assert result.stdout == ""
        assert result.stderr.startswith("error: "), result.stderr
        assert len(result.stderr.strip().splitlines()) <= 2
        assert ("no container named" if bad != "Bad_Name!" else "container name") in result.stderr
