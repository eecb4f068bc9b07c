"""Benchmark: ``devbox dockeruser list-containers --json`` with 25 containers, as a user through
the devbox service and as root (its own CLI, its own settings), in the same run.

    sudo .venv/bin/python -m bench.list_containers [--reps 7] [--count 25]

The containers: one dev container made without a checkout (the cheapest the CLI offers) and
``devbox dockeruser clone SRC --count N-1`` of it, all on a lab LAN this bench brings up in a
network namespace (bench.make_dev.bench_host: the bench's own root, service and account).
Each timing is one new client process, start to end. Also timed: ``--no-size`` (no /opt
measuring) and ``devbox --version`` (the client's start-up alone, no request). Everything
is removed at the end (``remove-dev-container --clones-of``, then ``--purge`` of the
source, then anything left of this root), on failure and Ctrl-C too.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

from bench.make_dev import GROUP_HELP, Host, bench_host, import_profile
from bench.service_user import user_python
from tests.cli import run_devbox


def root_cli(host: Host, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return run_devbox(args, host.env, timeout=timeout)


def ok(result: subprocess.CompletedProcess[str], what: str) -> str:
    if result.returncode != 0:
        raise RuntimeError(f"{what}: exit {result.returncode}: {result.stderr.strip()}")
    return result.stdout


def timed(run: Callable[[], subprocess.CompletedProcess[str]], count: int, what: str) -> float:
    t0 = time.perf_counter()
    out = ok(run(), what)
    seconds = time.perf_counter() - t0
    rows = json.loads(out)
    if len(rows) != count:
        raise RuntimeError(f"{what}: {len(rows)} rows, {count} expected")
    return seconds


SERVICE_ONLY = """
import json, sys, time
from pathlib import Path
from devbox.api.client import Client
api = Client(Path(sys.argv[1]), group=sys.argv[2], timeout=120)
times = []
for _ in range(int(sys.argv[3]) + 1):  # the first warms the connection
    t0 = time.perf_counter()
    rows = api.get("/containers", all=False, no_size=False, mine=False)
    times.append(time.perf_counter() - t0)
print(json.dumps({"rows": len(rows), "times": times[1:]}))
"""


def service_only(host: Host, reps: int) -> list[float]:
    """The service's answer alone, without a client's start-up: GET /v1/containers ``reps``
    times from one warm client process of the user's."""
    socket_path, group = host.cfg.text("service.socket"), host.cfg.text("service.group")
    argv = [*user_python()[0], "-c", SERVICE_ONLY, socket_path, group, str(reps)]
    result = host.user.run_as(argv, python_path=True)
    return [float(t) for t in json.loads(ok(result, "GET /v1/containers"))["times"]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--count", type=int, default=25)
    parser.add_argument("--keep-logs", action="store_true", help="keep the bench's root")
    parser.add_argument("--group", default="", help=GROUP_HELP)
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("needs root", file=sys.stderr)
        return 2
    with bench_host("dbxbl", args.keep_logs, args.group) as host:
        print(f"load at the start: {os.getloadavg()}", flush=True)
        src = f"dbxbl{host.tag}s"
        try:
            t0 = time.perf_counter()
            ok(
                root_cli(
                    host,
                    "dockeruser",
                    "make-dev-container",
                    src,
                    "--branch",
                    "bench",
                    "--no-checkout",
                ),
                "make the source",
            )
            ok(
                root_cli(host, "dockeruser", "clone", src, "--count", str(args.count - 1)),
                "clone it",
            )
            print(f"{args.count} containers made in {time.perf_counter() - t0:.1f} s", flush=True)
            user = host.user
            cases: dict[str, Callable[[], subprocess.CompletedProcess[str]]] = {
                "user, through the service": lambda: user.devbox(
                    ["dockeruser", "list-containers", "--json"]
                ),
                "root's CLI": lambda: root_cli(host, "dockeruser", "list-containers", "--json"),
                "user, --no-size": lambda: user.devbox(
                    ["dockeruser", "list-containers", "--json", "--no-size"]
                ),
                "root, --no-size": lambda: root_cli(
                    host, "dockeruser", "list-containers", "--json", "--no-size"
                ),
            }
            floor = {
                "user, devbox --version": lambda: user.devbox(["--version"]),
                "root, devbox --version": lambda: root_cli(host, "--version"),
            }
            times: dict[str, list[float]] = {case: [] for case in [*cases, *floor]}
            for case, run in cases.items():  # one warm-up each
                timed(run, args.count, case)
            for _ in range(args.reps):  # interleaved, so a load spike hits every case alike
                for case, run in cases.items():
                    times[case].append(timed(run, args.count, case))
                for case, run in floor.items():  # the client's start-up alone, no request
                    t0 = time.perf_counter()
                    ok(run(), case)
                    times[case].append(time.perf_counter() - t0)
            times["service's answer alone (GET)"] = service_only(host, args.reps)
            print(f"\nlist-containers --json, {args.count} containers, {args.reps} runs each")
            for case, values in times.items():
                print(
                    f"  {case:<28} median {statistics.median(values):.3f} s"
                    f"  spread {min(values):.3f}-{max(values):.3f}"
                    f"  raw {[round(v, 3) for v in values]}"
                )
            print(f"  load at the end: {os.getloadavg()}")
            import_profile(host, ["dockeruser", "list-containers", "--json"])
        finally:
            for step in (
                ("remove-dev-container", "--clones-of", src, "--yes"),
                ("remove-dev-container", src, "--yes", "--purge"),
            ):
                done = root_cli(host, "dockeruser", *step)
                if done.returncode != 0:
                    print(f"cleanup: {' '.join(step)}: {done.stderr.strip()}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
