"""CI's run of ``bench/scale.py --quick`` (N = 5): the bench still works end to end and leaves
nothing behind. No figure is checked (tests never assert timings)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli import REPO

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_bench_scale_quick_prints_its_table_and_cleans_up() -> None:
    from devbox.adapters.docker import containers as dc
    from devbox.model import labels

    done = subprocess.run(
        [sys.executable, "-m", "bench.scale", "--quick"],
        cwd=REPO,
        env={**os.environ, "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    lines = done.stdout.splitlines()
    header = [ln for ln in lines if "slope/ctr" in ln]
    assert header and "N=5" in header[0], done.stdout
    for row in ("clone --count N", "list-containers --json", "run-on", "remove-dev-container"):
        assert any(ln.startswith(row) for ln in lines), f"no {row!r} row:\n{done.stdout}"
    # the old way's figures beside devbox's where it has one, and the ratios
    for row in ("list-containers --json", "run-on"):
        [line] = [ln for ln in lines if ln.startswith(row)]
        assert re.search(r"\d\.\d{3}$", line), f"no old-way figure: {line!r}"
    assert "ratios (< 1: devbox faster):" in lines, done.stdout
    # like for like too: the old listing had no sizes, so --no-size has its ratio
    assert any("with --no-size" in ln and "devbox/old way" in ln for ln in lines), done.stdout
    # everything the bench made is gone: its root's containers and folder
    found = re.search(r"^bench \w+: root (\S+),", done.stdout, re.M)
    assert found, done.stdout
    root = Path(found.group(1))
    left = [
        st.name for st in dc.list_labeled(labels.ROLE) if st.labels.get(labels.ROOT) == str(root)
    ]
    assert left == []
    assert not root.exists()


def test_targets_say_met_or_not_for_n_50_only() -> None:
    from bench.scale import Figures, targets

    fig = Figures(50, {"clone": 9.0, "list": 0.31, "run_on": 1.5, "svc_rss": 70.0})
    lines = targets([Figures(25, {"clone": 1.0}), fig])
    assert lines[0].startswith("targets at N=50")
    verdicts = {line.split(",")[0].strip(): line.rsplit(":", 1)[1].strip() for line in lines[1:]}
    assert verdicts == {
        "clone --count 50": "met",
        "list-containers --json of 50 through the service": "NOT met",
        "run-on over 50 clones": "met",
        "service RSS holding 50 leases": "NOT met",
    }
    assert targets([Figures(25, {"clone": 1.0})]) == []  # no N=50: nothing claimed
