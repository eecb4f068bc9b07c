"""Benchmark: ``dockeruser run-on --clones-of SRC -- true`` over N clones, code against code.

    sudo .venv/bin/python -m bench.run_on --count 50 --reps 5
    sudo .venv/bin/python -m bench.run_on --count 50 --trees /tmp/wt-before,.   # before/after
    sudo .venv/bin/python -m bench.run_on --count 50 --profile                  # cProfile

One source and N clones are made once (bench.make_dev.bench_host: the bench's own root,
service, account and lab LAN in a network namespace). Then, ``--reps`` times, for each tree of
``--trees`` in turn: the devbox service is restarted from that tree (``PYTHONPATH``), one
untimed run-on warms it, and one run-on through root's CLI is timed (wall, and the CPU seconds
of the service's children: the run-on job). Medians per tree; the load average at the start and
the end. ``--profile``: run-on's service function in this process under cProfile, top entries.
Everything is removed at the end, on failure and Ctrl-C too.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from bench.make_dev import Host, bench_host
from bench.scale import cli, clone_names, make_source, ok, remove_source


def children_cpu(pid: int) -> float:
    """CPU seconds (user + system) of the waited-for children of ``pid`` and of its own
    children (the jobs: children of the service's forkserver, which reaps them)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    for proc in [pid, *(int(k) for k in kids)]:
        try:
            fields = Path(f"/proc/{proc}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[13]) + int(fields[14])) / ticks  # cutime, cstime
    return total


def restart_service(host: Host, tree: str) -> int:
    from bench.service_user import start_service
    from devbox.services import daemon_control

    daemon_control.stop(host.cfg)
    os.environ["PYTHONPATH"] = tree
    host.env["PYTHONPATH"] = tree
    return start_service(host.cfg, host.shared / "devbox.sock")


def time_run_on(host: Host, src: str, pid: int) -> tuple[float, float]:
    cpu0 = children_cpu(pid)
    t0 = time.perf_counter()
    ok(cli(host, "dockeruser", "run-on", "--clones-of", src, "--", "true"), "run-on")
    wall = time.perf_counter() - t0
    return wall, children_cpu(pid) - cpu0


def profile(host: Host, src: str) -> None:
    import cProfile
    import pstats

    from devbox.services import runon

    runon.run_on(host.cfg, [], "true", clones_of=src)  # warm
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    results = runon.run_on(host.cfg, [], "true", clones_of=src)
    prof.disable()
    print(f"in-process run_on: {time.perf_counter() - t0:.3f} s, {len(results)} results")
    bad = [r for r in results if not r.ok]
    if bad:
        print(f"  {len(bad)} failed, e.g. {bad[0].name}: {bad[0].error}")
    stats = pstats.Stats(prof)
    stats.sort_stats("cumulative").print_stats(40)
    stats.sort_stats("tottime").print_stats(25)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=50, help="clones (default 50)")
    parser.add_argument("--reps", type=int, default=5, help="timed runs per tree (median)")
    parser.add_argument("--trees", default=".", help="comma-separated source trees")
    parser.add_argument("--profile", action="store_true", help="cProfile, in this process")
    args = parser.parse_args(argv)
    if not 1 <= args.count <= 100 or not 1 <= args.reps <= 20:
        print("--count 1..100, --reps 1..20", file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("needs root (netns, the bench's service and account)", file=sys.stderr)
        return 2
    trees = [str(Path(t).resolve()) for t in args.trees.split(",") if t]
    figures: dict[str, list[tuple[float, float]]] = {t: [] for t in trees}
    old_path = os.environ.get("PYTHONPATH")
    with bench_host("dbxro") as host:
        start_load = os.getloadavg()
        print(f"load at the start: {start_load} ({os.cpu_count()} cpus)", flush=True)
        src = f"dbxro{host.tag}s"
        try:
            make_source(host, src)
            ok(cli(host, "dockeruser", "clone", src, "--count", str(args.count)), "clone")
            if len(clone_names(host, src)) != args.count:
                raise RuntimeError("clone did not make them all")
            if args.profile:
                profile(host, src)
            for rep in range(args.reps if trees else 0):
                for tree in trees:
                    pid = restart_service(host, tree)
                    time_run_on(host, src, pid)  # warm: imports, the service's first job
                    wall, cpu = time_run_on(host, src, pid)
                    figures[tree].append((wall, cpu))
                    print(f"rep {rep + 1} {tree}: {wall:.3f} s wall, {cpu:.2f} s job CPU")
        finally:
            if old_path is None:
                os.environ.pop("PYTHONPATH", None)
            else:
                os.environ["PYTHONPATH"] = old_path
            remove_source(host, src)
        end_load = os.getloadavg()
    print(f"\nrun-on --clones-of SRC -- true over {args.count} clones, median of {args.reps}")
    for tree, runs in figures.items():
        if runs:
            walls, cpus = [w for w, _ in runs], [c for _, c in runs]
            print(
                f"  {tree}: {statistics.median(walls):.3f} s wall (runs "
                f"{[round(w, 3) for w in walls]}), job CPU {statistics.median(cpus):.2f} s"
            )
    print(f"  load: start {start_load}, end {end_load} ({os.cpu_count()} cpus, shared machine)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
