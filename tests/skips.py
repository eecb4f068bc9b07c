"""The only reasons a test may skip, kept in one place (issue 18).

A run with ``CI=true`` or ``DEVBOX_STRICT_SKIPS=1`` (``scripts/test.sh`` sets it) fails when any
test skipped for a reason that is not in :data:`ALLOWED`: a missing tool, no root or an
unreachable engine must fail loudly, never hide a feature behind a green run. Tests that may
skip call the helpers below, so the reason a test gives and the list the hook checks are the
same text and cannot drift apart.

Allowed (what this host truly cannot provide, and nothing a test run could set up):

- ``802.1Q``: the kernel has no 802.1Q VLAN support (CONFIG_VLAN_8021Q unset), or has it so the
  "no VLAN support" failure path cannot be shown on this host. Either way one of the pair runs.
- ``p4``: no live Perforce server is given (``DEVBOX_TEST_P4PORT`` unset); the P4 fake
  (tests/fakes/p4fake.py) covers the flow everywhere else.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

VLAN_MISSING = (
    "802.1Q VLAN kernel support: this kernel has none (CONFIG_VLAN_8021Q unset), "
    "so the VLAN path cannot run here"
)
VLAN_PRESENT = (
    "802.1Q VLAN kernel support: this kernel has it, so the 'no VLAN support' "
    "failure path cannot be shown here"
)
P4_SERVER = (
    "no live Perforce server: DEVBOX_TEST_P4PORT unset (+ DEVBOX_TEST_P4USER, "
    "DEVBOX_TEST_P4PASSWD, DEVBOX_TEST_P4DEPOT)"
)

# reason -> what it means; the strict-skip hook accepts exactly these reasons
ALLOWED: dict[str, str] = {
    VLAN_MISSING: "no 802.1Q VLAN kernel support",
    VLAN_PRESENT: "802.1Q present: its absence cannot be shown",
    P4_SERVER: "no live Perforce server (DEVBOX_TEST_P4PORT unset)",
}

STRICT_ENV = ("CI", "DEVBOX_STRICT_SKIPS")


def strict(environ: dict[str, str] | None = None) -> bool:
    """Whether a skip outside :data:`ALLOWED` fails the run (CI, or the README's test.sh)."""
    env = os.environ if environ is None else environ
    return env.get("CI", "").lower() == "true" or env.get("DEVBOX_STRICT_SKIPS", "") == "1"


def allowed(reason: str) -> bool:
    """Whether ``reason`` (as pytest reports it, "Skipped: " prefix or not) is allow-listed."""
    text = reason.strip()
    for prefix in ("Skipped: ", "Skipped:"):
        if text.startswith(prefix):
            text = text[len(prefix) :].strip()
    return text in ALLOWED


def need_vlan_support(has_vlan: bool) -> None:
    """Skip (allow-listed) when this kernel has no 802.1Q support."""
    __tracebackhide__ = True  # the report names the calling test's line
    if not has_vlan:
        pytest.skip(VLAN_MISSING)


def need_no_vlan_support(has_vlan: bool) -> None:
    """Skip (allow-listed) the "no 802.1Q" failure path on a kernel that has 802.1Q."""
    __tracebackhide__ = True
    if has_vlan:
        pytest.skip(VLAN_PRESENT)


def p4_server_given() -> bool:
    return bool(os.environ.get("DEVBOX_TEST_P4PORT"))


# for a module of live-server tests: ``pytestmark = [..., skips.needs_p4_server]``
needs_p4_server = pytest.mark.skipif(not p4_server_given(), reason=P4_SERVER)


def fail_with_fix(what: str, fix: str) -> NoReturn:
    """What the tests need and the host lacks: a failure (never a skip) saying the fix."""
    __tracebackhide__ = True
    pytest.fail(f"{what}: {fix}", pytrace=False)
