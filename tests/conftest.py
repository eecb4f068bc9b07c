"""Shared test setup.

Every resource an integration test creates carries the run id (``RUN_ID``) in its name or its
``devbox.test-run`` label, so parallel runs never see each other's leftovers and the final
leftover check looks only at this run's.
"""

from __future__ import annotations

import os
import secrets

import pytest

RUN_ID = os.environ.get("DEVBOX_TEST_RUN_ID") or secrets.token_hex(2)
os.environ["DEVBOX_TEST_RUN_ID"] = RUN_ID

pytest_plugins = [
    "tests.fixtures.engine",
    "tests.fixtures.lab",
    "tests.fixtures.images",
    "tests.fixtures.devcontainers",
]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The leftover check runs last, after every other integration test.
    last = [i for i in items if i.get_closest_marker("leftovers")]
    rest = [i for i in items if not i.get_closest_marker("leftovers")]
    items[:] = rest + last


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "leftovers: the final check that nothing was left behind")
