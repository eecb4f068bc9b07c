"""Product/patch combos on the lab LAN: made once, found and started the second time; a patch
file applied to a git checkout; prune-combos removing only long-stopped ones."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from devbox.adapters.docker import containers as dc
from devbox.model import labels
from devbox.paths import Layout
from tests import waits
from tests.cli import run_cli
from tests.conftest import RUN_ID
from tests.fixtures.engine import TEST_LABEL
from tests.fixtures.lab import LabEnv

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _env(lab: LabEnv) -> dict[str, str]:
    home = lab.root / "home"
    home.mkdir(exist_ok=True)
    return {**lab.env, "DEVBOX_LABELS": f"{TEST_LABEL}={RUN_ID}", "HOME": str(home)}


def _cfg(lab: LabEnv) -> Any:
    from devbox import config

    return config.load(environ=_env(lab), files=(), overrides={"image": "devbox/dev:latest"})


def test_same_combo_twice_starts_the_existing_one(lab: LabEnv, dev_image: str) -> None:
    from devbox.model import combo_plan
    from devbox.services import combos, container_lifecycle

    cfg = _cfg(lab)
    release = f"9.{RUN_ID}"  # matches the shipped acme "*" entry; unique to this run
    name = combo_plan.combo_name("acme", release, [])
    env = {**_env(lab), "DEVBOX_IMAGE": dev_image}

    def make_combo() -> subprocess.CompletedProcess[str]:
        argv = ["--product", "acme", "--release", release, "--no-checkout", "--json"]
        return run_cli(env, "dockeruser", "make-dev-container", *argv, timeout=300)

    try:
        first = make_combo()
        assert first.returncode == 0, first.stderr
        made = json.loads(first.stdout)
        assert made["action"] == "made" and made["name"] == name
        st = dc.inspect(name)
        assert st is not None
        assert st.labels[labels.KIND] == "combo"
        assert (
            st.labels[labels.PRODUCT],
            st.labels[labels.RELEASE],
            st.labels[labels.PATCHES],
        ) == ("acme", release, "")
        container_id = st.id
        container_lifecycle.stop(cfg, name)

        t0 = time.monotonic()
        second = make_combo()
        seconds = time.monotonic() - t0
        assert second.returncode == 0, second.stderr
        again = json.loads(second.stdout)
        assert again["action"] == "started" and again["name"] == name
        st2 = dc.inspect(name)
        assert st2 is not None and st2.running and st2.id == container_id  # not rebuilt
        assert again["make"]["ip"] == made["make"]["ip"]
        print(f"second call (start of the existing combo) took {seconds:.1f}s")
        log = Layout(cfg.root).container_log(name).read_text()
        assert len(re.findall(r"== make-combo-container \S+: \d+ steps", log)) == 1

        listed = run_cli(
            env,
            "dockeruser",
            "list-containers",
            "--combos",
            "--json",
            "--all",
            "--no-size",
            timeout=900,
        )
        assert name in [r["name"] for r in json.loads(listed.stdout)]

        # prune: a running combo is never a candidate; a long-stopped one is
        assert name not in combos.stale(cfg, 1.0)
        container_lifecycle.stop(cfg, name)
        waits.wait_for(
            lambda: name in combos.stale(cfg, 1.0), 30, f"{name} to count as stopped for over 1 s"
        )
        assert name not in combos.stale(cfg, 86400.0)
        result = combos.prune(cfg, [name], purge=True)
        assert result.removed == [name]
        assert dc.inspect(name) is None
        assert not Layout(cfg.root).container_dir(name).exists()
    finally:
        if dc.inspect(name) is not None:
            container_lifecycle.remove(cfg, name, purge=True)


def _git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def _git_product(tmp_path: Path, lab: LabEnv, dev_image: str, content: str) -> Any:
    """A git repo holding devbox-example.conf, a branch and a product mapped to it; returns a
    config whose branches.map and products.map settings point at those maps."""
    repo = tmp_path / "product.git"
    work = tmp_path / "work"
    work.mkdir()
    _git("init", "-q", "-b", "main", cwd=work)
    (work / "devbox-example.conf").write_text(content)
    _git("add", ".", cwd=work)
    _git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one", cwd=work)
    _git("clone", "-q", "--bare", str(work), str(repo), cwd=tmp_path)
    branches = tmp_path / "branches.toml"
    branches.write_text(
        f'[[branch]]\nname = "widget/{RUN_ID}"\nvcs = "git"\n'
        f'url = "{repo}"\nref = "main"\npath = "src"\n'
        f'image = "{dev_image}"\n'
    )
    products = tmp_path / "products.toml"
    products.write_text(
        f'[[product]]\nname = "widget"\nrelease = "{RUN_ID}"\n'
        f'image = "{dev_image}"\nbranch = "widget/{RUN_ID}"\n'
    )
    return _cfg(lab).with_overrides({"branches.map": str(branches), "products.map": str(products)})


def test_patch_file_applied_to_the_checkout(lab: LabEnv, dev_image: str, tmp_path: Path) -> None:
    """A combo on a git branch with a patch file: the patch is in /opt, recorded in labels."""
    from devbox.model import combo_plan
    from devbox.services import combos, container_lifecycle

    cfg = _git_product(tmp_path, lab, dev_image, "log_level = info\n")
    name = combo_plan.combo_name("widget", RUN_ID, ["example-log-level"])
    try:
        result = combos.make_combo(cfg, "widget", RUN_ID, ["example-log-level"])
        assert result.action == "made" and result.name == name
        conf = Layout(cfg.root).opt_dir(name) / "src" / "devbox-example.conf"
        assert conf.read_text() == "log_level = debug\n"
        _code, out = dc.exec_run(name, ["cat", "/opt/src/devbox-example.conf"])
        assert out == b"log_level = debug\n"
        st = dc.inspect(name)
        assert st is not None and st.labels[labels.PATCHES] == "example-log-level"
    finally:
        if dc.inspect(name) is not None:
            container_lifecycle.remove(cfg, name, purge=True)


def test_patch_that_does_not_apply_rolls_the_combo_back(
    lab: LabEnv, dev_image: str, tmp_path: Path
) -> None:
    from devbox.errors import DevboxError
    from devbox.model import combo_plan
    from devbox.services import combos

    cfg = _git_product(tmp_path, lab, dev_image, "log_level = warn\n")
    name = combo_plan.combo_name("widget", RUN_ID, ["example-log-level"])
    with pytest.raises(DevboxError) as info:
        combos.make_combo(cfg, "widget", RUN_ID, ["example-log-level"])
    assert "apply patches" in str(info.value)
    assert dc.inspect(name) is None
    assert not Layout(cfg.root).container_dir(name).exists()
    # and --patch without a checkout is refused before anything is made
    with pytest.raises(DevboxError, match="checkout"):
        combos.make_combo(cfg, "widget", RUN_ID, ["example-log-level"], checkout=False)
    assert dc.inspect(name) is None
