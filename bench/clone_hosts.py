"""Benchmark: ``clone SRC --count N`` on one host vs spread over two (``--hosts auto`` on
``lab up --hosts 2``: this machine and one simulated host, a netns with its own dockerd, sshd
and devbox service), and what crossing SSH costs (bytes and seconds of the snapshot image and
the /opt tar streamed to the other host, through the client).

Both hosts share this machine's CPUs, so the spread measures the cost of the extra work (the
export, the stream, the load and unpack there), not a second machine's gain. The whole CLI
command is timed, as a user runs it; the clones are removed between runs (not timed).

    sudo .venv/bin/python -m bench.clone_hosts [--count 6] [--opt-mb 50] [--reps 1]

Needs the dev image (``devbox/dev:latest``: the integration tests build it). A lab of its own
(10.214.0.0/24, as test_many_hosts_clone: do not run both at once); nothing leaves this
machine.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.conftest import RUN_ID
from tests.fixtures.lab import devbox_cli
from tests.fixtures.two_hosts import TwoHosts, json_of, load_image, two_hosts_lab


class _Temp:
    """``mktemp`` as pytest's TempPathFactory has it, under one folder."""

    def __init__(self, top: Path) -> None:
        self.top = top

    def mktemp(self, basename: str, numbered: bool = True) -> Path:
        return Path(tempfile.mkdtemp(prefix=basename, dir=self.top))


def _clone(t: TwoHosts, source: str, count: int, hosts: str) -> dict[str, Any]:
    t0 = time.monotonic()
    done = devbox_cli(
        t.cli, "dockeruser", "clone", source, "--count", str(count), "--hosts", hosts,
        "--memory", "256m", "--json", timeout=1800,
    )  # fmt: skip
    wall = time.monotonic() - t0
    run = json_of(done)
    print(f"--hosts {hosts}: {wall:.1f}s wall, {run['seconds']:.1f}s in the run: {run['phases']}")
    assert all(c["ok"] for c in run["clones"]), run["clones"]
    return {**run, "wall": wall}


def _remove(t: TwoHosts, source: str) -> None:
    for where in ([], ["--host", "h2"]):
        devbox_cli(
            t.cli, *where, "dockeruser", "remove-dev-container", "--clones-of", source,
            "--yes", timeout=600,
        )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=6)
    parser.add_argument("--opt-mb", type=int, default=50)
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--image", default="devbox/dev:latest")
    args = parser.parse_args()
    import docker

    engine = docker.from_env()
    with tempfile.TemporaryDirectory(prefix="bench-clonehosts-") as top:
        with two_hosts_lab(_Temp(Path(top)), "c", 0) as t:
            load_image(engine, args.image, t.host["docker_host"]).close()
            source = f"dbxt{RUN_ID}bsrc"
            try:
                made = devbox_cli(
                    t.cli, "dockeruser", "make-dev-container", source, "--branch", "demo",
                    "--image", args.image, "--no-checkout", "--json", timeout=600,
                )  # fmt: skip
                json_of(made)
                fill = f"head -c {args.opt_mb << 20} /dev/urandom > /opt/bench.bin"
                devbox_cli(t.cli, "dockeruser", "exec", source, "--", "sh", "-c", fill)
                rows: dict[str, list[dict[str, Any]]] = {"local": [], "auto": []}
                for _ in range(args.reps):
                    for hosts in ("local", "auto"):
                        rows[hosts].append(_clone(t, source, args.count, hosts))
                        if hosts == "auto":
                            _log_tail(Path(t.host["root"]) / "logs" / f"{source}.log")
                        _remove(t, source)
                _report(rows, args.count, args.opt_mb)
            finally:
                _remove(t, source)
                devbox_cli(
                    t.cli, "dockeruser", "remove-dev-container", source, "--purge", "--yes",
                    timeout=300,
                )  # fmt: skip


def _log_tail(path: Path, lines: int = 25) -> None:
    """The step durations h2 logged for SRC (its receive) in the last run."""
    if path.exists():
        print(f"--- {path.name} on h2 (last {lines} lines)")
        print("\n".join(path.read_text(errors="replace").splitlines()[-lines:]))


def _report(rows: dict[str, list[dict[str, Any]]], count: int, opt_mb: int) -> None:
    print(f"clone --count {count}, {opt_mb} MB random in SRC's /opt, --memory 256m")
    for hosts, runs in rows.items():
        wall = statistics.median(r["wall"] for r in runs)
        shares = {h: f["clones"] for h, f in runs[0]["hosts"].items()}
        print(
            f"  --hosts {hosts:5}: {wall:6.1f}s wall (each: "
            + ", ".join(f"{r['wall']:.1f}" for r in runs)
            + f"), freeze {runs[0]['freeze_seconds']:.1f}s, shares {shares}"
        )
        for host, facts in runs[0]["hosts"].items():
            print(
                f"    {host}: its job {facts['seconds']:.1f}s"
                + (f" (receive: load + sysprep + unpack {facts['receive_seconds']:.1f}s)"
                   if facts["receive_seconds"] else "")
                + ", clones " + ", ".join(
                    f"{c['seconds']:.1f}" for c in runs[0]["clones"] if c["host"] == host
                )
            )  # fmt: skip
            sent = facts["sent_bytes"]
            if sent:
                total, secs = sum(sent.values()), facts["send_seconds"]
                print(
                    f"    to {host} over SSH: image {sent['image'] / 1e6:.1f} MB + /opt "
                    f"{sent['opt'] / 1e6:.1f} MB in {secs:.2f}s "
                    f"({total / 1e6 / max(secs, 1e-6):.0f} MB/s)"
                )
    local = statistics.median(r["wall"] for r in rows["local"])
    spread = statistics.median(r["wall"] for r in rows["auto"])
    print(f"  ratio auto/local: {spread / local:.2f}")


if __name__ == "__main__":
    main()
