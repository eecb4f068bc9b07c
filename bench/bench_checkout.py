"""git checkout into /opt: devbox's checkout service against a plain ``git clone`` baseline.

Both run in the same process on the same local repository (file://), full and shallow;
prints seconds and the ratio devbox/baseline. Nothing is asserted.

    .venv/bin/python -m bench.bench_checkout [--files 3000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from devbox.config import load as load_config
from devbox.services import checkout as service

ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "b",
    "GIT_AUTHOR_EMAIL": "b@example.com",
    "GIT_COMMITTER_NAME": "b",
    "GIT_COMMITTER_EMAIL": "b@example.com",
}


def _git(*args: str, cwd: Path | None = None) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, env=ENV)


def _make_repo(base: Path, files: int) -> Path:
    work = base / "work"
    _git("init", "-q", "-b", "main", str(work))
    for i in range(files):
        path = work / f"d{i % 50}" / f"f{i}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"file {i}\n" * 20)
    _git("add", "-A", cwd=work)
    _git("commit", "-q", "-m", "one", cwd=work)
    for n in range(5):
        (work / "d0" / "f0.txt").write_text(f"rev {n}\n")
        _git("commit", "-q", "-am", f"rev {n}", cwd=work)
    bare = base / "repo.git"
    _git("clone", "-q", "--bare", str(work), str(bare))
    return bare


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="dbx-bench-checkout-"))
    try:
        bare = _make_repo(base, args.files)
        url = f"file://{bare}"
        (base / "map.toml").write_text(
            f'[[branch]]\nname = "full"\nvcs = "git"\nurl = "{url}"\nref = "main"\n\n'
            f'[[branch]]\nname = "shallow"\nvcs = "git"\nurl = "{url}"\nref = "main"\n'
            "depth = 1\n"
        )
        cfg = load_config(
            environ={
                "DEVBOX_ROOT": str(base / "root"),
                "DEVBOX_BRANCHES_MAP": str(base / "map.toml"),
            },
            files=(),
        )
        for branch, depth in (("full", []), ("shallow", ["--depth=1"])):
            ours, theirs = [], []
            for r in range(args.rounds):
                dest = base / f"clone-{branch}-{r}"
                t0 = time.perf_counter()
                _git("clone", "-q", "--no-tags", *depth, "-b", "main", url, str(dest))
                theirs.append(time.perf_counter() - t0)
                name = f"b{branch}{r}"
                t0 = time.perf_counter()
                service.checkout(cfg, name, branch, base / "root" / name / "opt")
                ours.append(time.perf_counter() - t0)
            best_ours, best_theirs = min(ours), min(theirs)
            print(
                f"{branch:8} {args.files} files: devbox {best_ours:.3f}s  git clone "
                f"{best_theirs:.3f}s  ratio {best_ours / best_theirs:.2f}"
            )
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
