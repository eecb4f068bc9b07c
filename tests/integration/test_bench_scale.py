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
    # everything the bench made is gone: its root's containers and folder
    found = re.search(r"^bench \w+: root (\S+),", done.stdout, re.M)
    assert found, done.stdout
    root = Path(found.group(1))
    left = [
        st.name for st in dc.list_labeled(labels.ROLE) if st.labels.get(labels.ROOT) == str(root)
    ]
    assert left == []
    assert not root.exists()
