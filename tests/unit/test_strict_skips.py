"""The strict-skip rule (tests/conftest.py, tests/skips.py) on a throw-away test file, in a
pytest subprocess: a skip not on the allow-list fails a strict run, with a summary line; an
allow-listed one does not; an integration test without root fails instead of skipping."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

PROBE = """
import pytest
from tests import skips

pytestmark = pytest.mark.{mark}

def test_ok():
    pass

def test_{kind}():
    {body}
"""
BODIES = {
    "bad": 'pytest.skip("mkfs.xfs missing")',
    "xfail": 'pytest.xfail("flaky")',
    "allowed": "skips.need_vlan_support(False)",
    "p4": "skips.needs_p4_server.mark.args and skips.need_no_vlan_support(True)",
}


def _pytest(
    tmp_path: Path, kind: str, strict: bool, mark: str = "unit", unprivileged: bool = False
) -> subprocess.CompletedProcess[str]:
    probe = tmp_path / f"test_probe_{kind}.py"
    probe.write_text(PROBE.format(kind=kind, body=BODIES[kind], mark=mark))
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "DEVBOX_STRICT_SKIPS")}
    env.update(
        {"DEVBOX_STRICT_SKIPS": "1"} if strict else {}, PYTHONPATH=str(REPO), HOME=str(tmp_path)
    )
    # as root, a user namespace without a mapping makes this pytest unprivileged (euid 65534)
    wrap = ["unshare", "--user"] if unprivileged and os.geteuid() == 0 else []
    argv = [
        *wrap,
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "tests.conftest",
        "-p",
        "no:cacheprovider",
        "--rootdir",
        str(tmp_path),
        "-c",
        os.devnull,
        "-W",
        "ignore::pytest.PytestUnknownMarkWarning",
        str(probe),
    ]
    return subprocess.run(
        argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_a_skip_off_the_list_fails_a_strict_run(tmp_path: Path) -> None:
    res = _pytest(tmp_path, "bad", strict=True)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "test_probe_bad.py::test_bad: Skipped: mkfs.xfs missing" in res.stdout
    assert "error: 1 test(s) skipped for a reason not on the allow-list" in res.stdout


def test_an_xfail_fails_a_strict_run_too(tmp_path: Path) -> None:
    res = _pytest(tmp_path, "xfail", strict=True)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "xfail: flaky" in res.stdout


def test_allow_listed_skips_pass_a_strict_run(tmp_path: Path) -> None:
    for kind in ("allowed", "p4"):
        res = _pytest(tmp_path, kind, strict=True)
        assert res.returncode == 0, res.stdout + res.stderr
        assert "1 passed, 1 skipped" in res.stdout and "error:" not in res.stdout


def test_without_strict_a_bad_skip_is_only_noted(tmp_path: Path) -> None:
    res = _pytest(tmp_path, "bad", strict=False)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "note: 1 skip(s) not on the allow-list" in res.stdout


def test_ci_true_is_strict() -> None:
    from tests import skips

    assert skips.strict({"CI": "true"}) and skips.strict({"DEVBOX_STRICT_SKIPS": "1"})
    assert not skips.strict({}) and not skips.strict({"CI": "false"})
    assert skips.allowed(f"Skipped: {skips.P4_SERVER}") and not skips.allowed("no root")


def test_integration_tests_without_root_fail(tmp_path: Path) -> None:
    """Run unprivileged: every integration test fails with the fix, none skips."""
    res = _pytest(tmp_path, "bad", strict=False, mark="integration", unprivileged=True)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "2 errors" in res.stdout and "skipped" not in res.stdout, res.stdout  # setup fails
    assert "integration tests need root" in res.stdout
