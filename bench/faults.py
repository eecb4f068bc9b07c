"""The fault suite (tests/faults, issue 12), long version, and its table.

    sudo .venv/bin/python -m bench.faults           # long: 50 make/remove, 20 clone/remove
    sudo .venv/bin/python -m bench.faults --full    # 100 make/remove cycles

Runs pytest on tests/faults with DEVBOX_FAULTS_LONG set, then prints the table: per case the
runs, how many converged, leaked objects by kind and /opt files lost.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="100 make/remove cycles")
    ap.add_argument("--short", action="store_true", help="the CI (default pytest) version")
    ap.add_argument("pytest_args", nargs="*", help="more pytest arguments (e.g. -k make)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "table.json"
        env = {
            **os.environ,
            "DEVBOX_FAULTS_TABLE": str(out),
            "DEVBOX_FAULTS_LONG": "" if args.short else ("full" if args.full else "1"),
        }
        rc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "tests/faults",
                *args.pytest_args,
            ],
            cwd=REPO,
            env=env,
            check=False,
        ).returncode
        rows = json.loads(out.read_text()) if out.exists() else []
    from tests.faults import table

    table.ROWS.clear()
    for r in rows:
        table.ROWS[r["case"]] = table.Row(**r)
    print()
    print(table.render())
    return rc


if __name__ == "__main__":
    sys.exit(main())
