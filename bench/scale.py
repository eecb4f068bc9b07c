"""Benchmark: how devbox's cost grows with the number of containers, in one run.

    sudo .venv/bin/python -m bench.scale            # N = 10, 25, 50
    sudo .venv/bin/python -m bench.scale --full     # N = 10, 25, 50, 100
    sudo .venv/bin/python -m bench.scale --quick    # N = 5 only (CI: proves it still works)
    sudo .venv/bin/python -m bench.scale --counts 25 --reps 3

For each N, through root's CLI (a new ``python -m devbox`` process each time, which goes through
the devbox service of the bench's own root, as every command does):

- clone:     ``dockeruser clone SRC --count N`` of one source made with ``--no-checkout`` (a
             small /opt, ``--opt-mb``), until every clone is SSH-ready; and that per clone.
- RAM:       per container, the mean over the N clones of their cgroup's memory as the kernel
             counts it (cgroup v1: ``memory/devbox/<name>/memory.usage_in_bytes``, page cache
             included, and ``total_rss`` of its memory.stat; v2: ``devbox/<name>/
             memory.current`` and ``anon`` of memory.stat), read once all N are ready.
- service:   the devbox service's RSS and thread count (``/proc/<pid>/status``, VmRSS and
             Threads; the fewest threads over ten reads) with the N clones up (their leases
             held), and with SRC's lease alone before any clone (threads must not grow).
- list:      ``dockeruser list-containers --json`` (N + 1 rows), median of ``--reps``; and
             with ``--no-size``.
- run-on:    ``dockeruser run-on --clones-of SRC -- true``, median of ``--reps``.
- remove:    ``dockeruser remove-dev-container --clones-of SRC --yes`` (once: it is the end of
             that N).

Prints one table (a column per N), the slope per container of each row (least squares over
the Ns: what one more container costs) and the old way's figure where it has one
(:mod:`bench.scale_old_way`: the docker CLI's listing, OpenSSH's ssh 16 at once; an en dash
elsewhere), with the ratios of devbox to the old way at the largest N. The lab LAN is a
private one in a network namespace (bench.make_dev.bench_host: the bench's own root, service,
account and lab); everything is removed at the end, on failure and Ctrl-C too. The machine
may be shared: the load average is printed at the start and the end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench import scale_old_way
from bench.make_dev import GROUP_HELP, Host, bench_host
from tests.cli import run_devbox

MB = 1024 * 1024
NONE = "\u2013"  # an en dash: no figure
# the rows the old way has a figure for (bench.scale_old_way): row key -> its key
# the old listing showed no sizes: --no-size is its like-for-like row, the default one with
# sizes is what a user gets and is compared too
OLD_WAY = {"list": "list_old", "list_nosize": "list_old", "run_on": "run_on_old"}


def cli(host: Host, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    return run_devbox(args, host.env, timeout=timeout)


def ok(result: subprocess.CompletedProcess[str], what: str) -> str:
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip()[-800:]
        raise RuntimeError(f"{what}: exit {result.returncode}: {tail}")
    return result.stdout


def timed(args: Sequence[str], host: Host, what: str) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = ok(cli(host, *args), what)
    return time.perf_counter() - t0, out


def write_opt(opt: Path, megabytes: int) -> None:
    """A small /opt: one file of half the size, eight of the rest (as bench.clone does)."""
    data = opt / "data"
    data.mkdir(parents=True, exist_ok=True)
    chunk = os.urandom(MB)
    sizes = [max(1, megabytes // 2)] + [max(1, megabytes // 16)] * 8
    for index, size in enumerate(sizes):
        with (data / f"events-{index}.bin").open("wb") as fh:
            for _ in range(size):
                fh.write(chunk)


# ---- what the kernel says ------------------------------------------------------------------
def cgroup_memory(name: str) -> tuple[int, int] | None:
    """(usage, rss) of ``devbox/<name>`` in bytes: cgroup v2 ``memory.current`` and ``anon``,
    v1 ``memory.usage_in_bytes`` and ``total_rss``; None when the cgroup is not there."""
    from devbox.adapters.host import cgroupfs
    from devbox.model import vmstyle

    v2 = cgroupfs.mode() == vmstyle.CGROUP_V2
    base = Path("/sys/fs/cgroup") if v2 else Path("/sys/fs/cgroup/memory")
    outer = base / vmstyle.cgroup_outer(name)
    try:
        usage = int((outer / ("memory.current" if v2 else "memory.usage_in_bytes")).read_text())
        stat = dict(line.split(" ", 1) for line in (outer / "memory.stat").read_text().splitlines())
    except (OSError, ValueError):
        return None
    return usage, int(stat.get("anon" if v2 else "total_rss", "0"))


def memory_source() -> str:
    from devbox.adapters.host import cgroupfs
    from devbox.model import vmstyle

    if cgroupfs.mode() == vmstyle.CGROUP_V2:
        return "cgroup v2 devbox/<name>: memory.current (rss: anon)"
    return "cgroup v1 memory/devbox/<name>: usage_in_bytes, page cache included (rss: total_rss)"


def service_status(host: Host) -> tuple[float, int]:
    """The devbox service's (RSS in MB, threads), from /proc/<pid>/status: its steady state,
    the fewest threads over ten reads a tenth of a second apart (a request's short-lived
    worker is not counted) and the RSS of the last read."""
    from devbox.state import daemon_pid
    from devbox.waits import poll

    pid = daemon_pid.running_pid(host.cfg)
    if pid is None:
        raise RuntimeError("the devbox service is not running")
    reads: list[tuple[float, int]] = []

    def read() -> bool:
        status = Path(f"/proc/{pid}/status").read_text().splitlines()
        fields = dict(line.split(":", 1) for line in status)
        reads.append((int(fields["VmRSS"].split()[0]) / 1024, int(fields["Threads"])))
        return len(reads) >= 10

    poll(read, 5.0, 0.1)
    return reads[-1][0], min(threads for _, threads in reads)


# ---- one N ---------------------------------------------------------------------------------
@dataclass
class Figures:
    count: int
    values: dict[str, float] = field(default_factory=dict)
    raw: dict[str, list[float]] = field(default_factory=dict)


ROWS: list[tuple[str, str]] = [  # key, label (with its unit)
    ("clone", "clone --count N, s"),
    ("per_clone", "  per clone, s"),
    ("ram", "RAM per container (cgroup), MB"),
    ("rss_ctr", "  of it rss, MB"),
    ("list", "list-containers --json, s"),
    ("list_nosize", "  with --no-size, s"),
    ("list_get", "  service's answer alone (GET), s"),
    ("list_get_nosize", "  GET with no_size, s"),
    ("version", "  client start-up (devbox --version), s"),
    ("run_on", "run-on --clones-of SRC -- true, s"),
    ("remove", "remove-dev-container --clones-of, s"),
    ("svc_rss", "service RSS with N up, MB"),
    ("svc_threads", "service threads with N up"),
]


def median_of(reps: int, run: Callable[[], float]) -> tuple[float, list[float]]:
    values = [run() for _ in range(reps)]
    return statistics.median(values), values


def one_count(host: Host, src: str, count: int, reps: int) -> Figures:
    fig = Figures(count)
    print(f"N={count}: clone ...", flush=True)
    seconds, _ = timed(["dockeruser", "clone", src, "--count", str(count)], host, "clone")
    fig.values["clone"], fig.values["per_clone"] = seconds, seconds / count
    names = clone_names(host, src)
    if len(names) != count:
        raise RuntimeError(f"clone made {len(names)} clones, {count} expected")
    mem = [m for m in (cgroup_memory(n) for n in names) if m is not None]
    if mem:
        fig.values["ram"] = statistics.mean(u for u, _ in mem) / MB
        fig.values["rss_ctr"] = statistics.mean(r for _, r in mem) / MB
    fig.values["svc_rss"], threads = service_status(host)
    fig.values["svc_threads"] = float(threads)

    def listing(*extra: str) -> Callable[[], float]:
        def run() -> float:
            seconds, out = timed(["dockeruser", "list-containers", "--json", *extra], host, "list")
            rows = [r for r in json.loads(out) if r["name"] == src or r["clone_of"] == src]
            if len(rows) != count + 1:
                raise RuntimeError(f"list-containers: {len(rows)} rows, {count + 1} expected")
            return seconds

        return run

    from devbox.api.client import Client

    api = Client(Path(host.cfg.text("service.socket")), host.cfg.text("service.group"), 120)
    api.get("/containers", all=False, no_size=True, mine=False)  # warms the connection

    def get(no_size: bool) -> Callable[[], float]:
        """The service's answer alone, from a warm client in this process: no start-up."""

        def run() -> float:
            t0 = time.perf_counter()
            rows = api.get("/containers", all=False, no_size=no_size, mine=False)
            seconds = time.perf_counter() - t0
            if len([r for r in rows if r["clone_of"] == src]) != count:
                raise RuntimeError(f"GET /containers: not the {count} clones")
            return seconds

        return run

    def version() -> float:
        return timed(["--version"], host, "devbox --version")[0]

    def run_on() -> float:
        args = ["dockeruser", "run-on", "--clones-of", src, "--", "true"]
        return timed(args, host, "run-on")[0]

    print(f"N={count}: list-containers, run-on ({reps} runs each) ...", flush=True)
    for key, run in (
        ("list", listing()),
        ("list_nosize", listing("--no-size")),
        ("list_get", get(False)),
        ("list_get_nosize", get(True)),
        ("version", version),
        ("run_on", run_on),
    ):
        fig.values[key], fig.raw[key] = median_of(reps, run)
    why_not = scale_old_way.available()
    if why_not:
        print(f"N={count}: no old-way figures: {why_not}", flush=True)
    else:
        print(f"N={count}: the old way's list and run-on ({reps} runs each) ...", flush=True)
        from devbox.paths import Layout
        from devbox.state.container_records import devbox_key, known_hosts

        layout, ifname = Layout(host.root), host.cfg.text("ifname")
        rows = json.loads(
            ok(cli(host, "dockeruser", "list-containers", "--json", "--no-size"), "list")
        )
        ips = [r["ip"] for r in rows if r["clone_of"] == src and r["ip"]]
        if len(ips) != count:
            raise RuntimeError(
                f"list-containers: {len(ips)} clones with an address, {count} expected"
            )
        for key, run in (
            ("list_old", lambda: scale_old_way.list_containers(names, ifname)),
            (
                "run_on_old",
                lambda: scale_old_way.run_on(
                    ips, str(devbox_key(layout)), str(known_hosts(layout))
                ),
            ),
        ):
            fig.values[key], fig.raw[key] = median_of(reps, run)
    print(f"N={count}: remove --clones-of ...", flush=True)
    args = ["dockeruser", "remove-dev-container", "--clones-of", src, "--yes"]
    fig.values["remove"] = timed(args, host, "remove --clones-of")[0]
    return fig


def make_source(host: Host, src: str) -> None:
    """The bench's SRC: a dev container with no checkout (the clones' source)."""
    make = ["dockeruser", "make-dev-container", src, "--branch", "bench", "--no-checkout"]
    ok(cli(host, *make), "make the source")


def remove_source(host: Host, src: str) -> None:
    """The bench's end, on failure too: SRC's clones, then SRC with its /opt."""
    for step in (
        ("remove-dev-container", "--clones-of", src, "--yes"),
        ("remove-dev-container", src, "--yes", "--purge"),
    ):
        done = cli(host, "dockeruser", *step)
        if done.returncode != 0 and "no clones" not in done.stderr:
            print(f"cleanup: {' '.join(step)}: {done.stderr.strip()}", file=sys.stderr)


def clone_names(host: Host, src: str) -> list[str]:
    """The clones of ``src`` that are there now (from the service's list, not the clone's
    output format)."""
    rows = json.loads(ok(cli(host, "dockeruser", "list-containers", "--json", "--no-size"), "list"))
    return [r["name"] for r in rows if r["clone_of"] == src]


def merged(cycles: list[Figures]) -> Figures:
    """One N's figures over its clone-to-remove cycles: the median of each, every cycle's
    value in ``raw`` (with more than one)."""
    if len(cycles) == 1:
        return cycles[0]
    out = Figures(cycles[0].count)
    for key in cycles[0].values:
        values = [c.values[key] for c in cycles if key in c.values]
        out.values[key] = statistics.median(values)
        out.raw[key] = values
    return out


# ---- the table -----------------------------------------------------------------------------
def slope(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Least-squares slope of ys over xs; None with fewer than two distinct xs."""
    if len(set(xs)) < 2:
        return None
    mx, my = statistics.mean(xs), statistics.mean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )


def table(figures: list[Figures]) -> list[str]:
    counts = [f.count for f in figures]
    head = f"{'':38}" + "".join(f"{'N=' + str(n):>10}" for n in counts)
    lines = [head + f"{'slope/ctr':>12}  old way (per N)"]
    for key, label in ROWS:
        have = [f for f in figures if key in f.values]
        cells = "".join(
            f"{f.values[key]:10.3f}" if key in f.values else f"{'?':>10}" for f in figures
        )
        s = slope([f.count for f in have], [f.values[key] for f in have])
        old = [f.values[OLD_WAY[key]] for f in figures if OLD_WAY.get(key, "") in f.values]
        olds = " / ".join(f"{v:.3f}" for v in old) or NONE  # one per N, as the columns
        lines.append(f"{label:38}{cells}{NONE if s is None else f'{s:+.4f}':>12}  {olds}")
    return lines


# issue #17's targets at N = 50 on this 2-core machine: key, at most, what
TARGETS: list[tuple[str, float, str]] = [
    ("clone", 10.0, "clone --count 50, s"),
    ("list", 0.3, "list-containers --json of 50 through the service, s"),
    ("run_on", 1.5, "run-on over 50 clones, s"),
    ("remove", 5.0, "remove --clones-of 50, s"),
    ("svc_rss", 60.0, "service RSS holding 50 leases, MB"),
]


def ratios(figures: list[Figures]) -> list[str]:
    """devbox over the old way for each row that has both, at the largest N that has them
    (< 1: devbox is faster)."""
    out = []
    for key, label in ROWS:
        old_key = OLD_WAY.get(key)
        both = [f for f in figures if key in f.values and old_key in f.values]
        if old_key and both:
            fig = max(both, key=lambda f: f.count)
            ratio = fig.values[key] / fig.values[old_key]
            out.append(f"  {label.strip()} at N={fig.count}: devbox/old way {ratio:.2f}")
    return ["ratios (< 1: devbox faster):", *out] if out else []


def targets(figures: list[Figures], count: int = 50) -> list[str]:
    """Each target beside this run's figure for N = ``count``: met or not (nothing when the
    run had no such N)."""
    fig = next((f for f in figures if f.count == count), None)
    if fig is None:
        return []
    lines = [f"targets at N={count} (issue #17):"]
    for key, limit, what in TARGETS:
        if key not in fig.values:
            continue
        value = fig.values[key]
        verdict = "met" if value <= limit else "NOT met"
        lines.append(f"  {what:52} {value:8.3f}  <= {limit:g}: {verdict}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--full", action="store_true", help="N = 10, 25, 50, 100")
    size.add_argument("--quick", action="store_true", help="N = 5 only, one run each (CI)")
    size.add_argument("--counts", default="", help="comma-separated Ns, e.g. 25 or 10,25")
    parser.add_argument("--reps", type=int, default=3, help="runs of list and run-on (median)")
    parser.add_argument(
        "--cycles",
        type=int,
        default=1,
        help="clone-measure-remove cycles per N (the median counts; default 1)",
    )
    parser.add_argument("--opt-mb", type=int, default=16, help="MB in SRC's /opt (default 16)")
    parser.add_argument("--keep-logs", action="store_true", help="keep the bench's root")
    parser.add_argument("--group", default="", help=GROUP_HELP)
    args = parser.parse_args(argv)
    if args.quick:
        counts, reps = [5], 1
    elif args.counts:
        counts, reps = [int(c) for c in args.counts.split(",")], args.reps
    else:
        counts, reps = [10, 25, 50, *([100] if args.full else [])], args.reps
    if (
        not all(1 <= n <= 100 for n in counts)
        or not 1 <= reps <= 20
        or not 1 <= args.cycles <= 10
        or args.opt_mb < 1
    ):
        print("N in 1..100, --reps 1..20, --cycles 1..10, --opt-mb >= 1", file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("needs root (netns, the bench's service and account)", file=sys.stderr)
        return 2
    figures: list[Figures] = []
    with bench_host("dbxsc", args.keep_logs, args.group) as host:
        start_load = os.getloadavg()
        print(f"load at the start: {start_load} ({os.cpu_count()} cpus)", flush=True)
        src = f"dbxsc{host.tag}s"
        try:
            make_source(host, src)
            from devbox.paths import Layout

            write_opt(Layout(host.root).opt_dir(src), args.opt_mb)
            from devbox.waits import poll

            log = host.root / "logs" / "daemon.log"
            poll(lambda: f"{src}.lan0: adopted lease" in log.read_text(), 20.0, 0.1)
            one_rss, one_threads = service_status(host)
            print(f"service with SRC's lease alone: {one_rss:.1f} MB, {one_threads} threads")
            for count in counts:
                cycles = [one_count(host, src, count, reps) for _ in range(args.cycles)]
                figures.append(merged(cycles))
        finally:
            remove_source(host, src)
        end_load = os.getloadavg()
    print(
        f"\nscale: SRC with {args.opt_mb} MB in /opt; list and run-on median of {reps} "
        f"run(s) per cycle, {args.cycles} clone-remove cycle(s) per N (median);\n"
        f"memory: {memory_source()}; through root's CLI and the devbox service"
    )
    print(f"service with SRC's lease alone: RSS {one_rss:.1f} MB, {one_threads} threads")
    for line in table(figures):
        print(line)
    for line in [*ratios(figures), *targets(figures)]:
        print(line)
    for fig in figures:
        raw = "; ".join(f"{k} {[round(v, 3) for v in vs]}" for k, vs in fig.raw.items())
        print(f"  raw N={fig.count}: {raw}")
    print(f"  load: start {start_load}, end {end_load} ({os.cpu_count()} cpus, shared machine)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
