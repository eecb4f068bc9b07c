"""Shared test setup.

Every resource an integration test creates carries the run id (``RUN_ID``) in its name or its
``devbox.test-run`` label, so parallel runs never see each other's leftovers and the final
leftover check looks only at this run's.

Two rules a green run must not get around (issue 18):

- an integration test run without root fails (with the fix), it never skips;
- with ``CI=true`` or ``DEVBOX_STRICT_SKIPS=1`` (``scripts/test.sh``), a skip (or xfail) whose
  reason is not allow-listed in :mod:`tests.skips` fails the run, with one summary line each.
"""

from __future__ import annotations

import os
import secrets
from typing import Any

import pytest

from tests import skips

RUN_ID = os.environ.get("DEVBOX_TEST_RUN_ID") or secrets.token_hex(2)
os.environ["DEVBOX_TEST_RUN_ID"] = RUN_ID

pytest_plugins = [
    "tests.fixtures.engine",
    "tests.fixtures.lab",
    "tests.fixtures.images",
    "tests.fixtures.devcontainers",
    "tests.fixtures.readme",
]

NOT_ROOT = (
    "integration tests need root (real netns, mounts, dockerd): run them as root, e.g. "
    "sudo bash scripts/test.sh, or only the unit tests: .venv/bin/pytest tests/unit"
)

# (node id, reason) of every skip the allow-list does not cover, in the order they happened
_BAD_SKIPS: list[tuple[str, str]] = []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The leftover check runs last, after every other integration test.
    last = [i for i in items if i.get_closest_marker("leftovers")]
    rest = [i for i in items if not i.get_closest_marker("leftovers")]
    items[:] = rest + last


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "leftovers: the final check that nothing was left behind")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """An integration test without root is a failure (before any fixture could skip it)."""
    if item.get_closest_marker("integration") and os.geteuid() != 0:
        pytest.fail(NOT_ROOT, pytrace=False)


def _reason(report: Any) -> str:
    if getattr(report, "wasxfail", None) is not None:
        return f"xfail: {report.wasxfail or '(no reason)'}"
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


def _note(report: Any) -> None:
    if not report.skipped:
        return
    reason = _reason(report)
    if getattr(report, "wasxfail", None) is not None or not skips.allowed(reason):
        _BAD_SKIPS.append((report.nodeid, reason))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _note(report)


def pytest_collectreport(report: pytest.CollectReport) -> None:
    _note(report)  # a whole module skipped at import


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if (
        skips.strict()
        and _BAD_SKIPS
        and exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED)
    ):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if not _BAD_SKIPS:
        return
    tr = terminalreporter
    strict = skips.strict()
    tr.section("skips not on the allow-list (tests/skips.py)", red=strict, yellow=not strict)
    for nodeid, reason in _BAD_SKIPS:
        tr.line(f"{nodeid}: {reason}")
    if strict:
        tr.line(
            f"error: {len(_BAD_SKIPS)} test(s) skipped for a reason not on the allow-list "
            f"in tests/skips.py (strict: CI=true or DEVBOX_STRICT_SKIPS=1): the run fails",
            red=True,
            bold=True,
        )
    else:
        tr.line(
            f"note: {len(_BAD_SKIPS)} skip(s) not on the allow-list: CI (CI=true or "
            "DEVBOX_STRICT_SKIPS=1) fails on them",
            yellow=True,
        )
