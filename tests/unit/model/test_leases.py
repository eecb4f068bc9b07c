"""Lease math and NIC records: RFC 2131 deadlines, phases, state moves, static addresses,
reconcile planning."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from devbox.errors import DevboxError, ExitCode, UserError
from devbox.model.leases import (
    SEEN_ONLY,
    TRANSITIONS,
    Action,
    ContainerView,
    IllegalMove,
    NicRecord,
    NicState,
    can_move,
    lease_deadlines,
    parse_static,
    phase,
    plan_reconcile,
)
from tests.unit.records import nic_record


def test_lease_deadlines_rfc_defaults_and_server_values() -> None:
    assert lease_deadlines(1000.0, 120) == (1060.0, 1105.0, 1120.0)
    assert lease_deadlines(0.0, 100, 30, 70) == (30, 70, 100)
    assert lease_deadlines(0.0, 0xFFFFFFFF) == (None, None, None)
    assert lease_deadlines(0.0, 100, 80, 50) == (80, 80, 100)  # T2 never before T1


def test_lease_phase() -> None:
    assert phase(10, 0, 120) == NicState.BOUND
    assert phase(70, 0, 120) == NicState.RENEWING
    assert phase(110, 0, 120) == NicState.REBINDING
    assert phase(121, 0, 120) == NicState.UNBOUND


def test_state_transitions() -> None:
    assert can_move(NicState.BOUND, NicState.RENEWING)
    assert can_move(NicState.STOPPED, NicState.BOUND)
    assert not can_move(NicState.DETACHING, NicState.BOUND)
    assert not can_move(NicState.STATIC, NicState.RENEWING)


def test_parse_static() -> None:
    assert parse_static("10.1.2.3/24", "10.1.2.1") == ("10.1.2.3", 24, "10.1.2.1")
    for bad, match in (
        ("10.1.2.3", "prefix"),
        ("10.1.2.0/24", "network or broadcast"),
        ("224.0.0.1/24", "unicast"),
        ("x/24", "not an IPv4"),
    ):
        with pytest.raises(UserError, match=match):
            parse_static(bad, None)
    with pytest.raises(UserError, match="not in"):
        parse_static("10.1.2.3/24", "10.9.9.1")


def test_plan_reconcile() -> None:
    records = [
        nic_record("adopt"),
        nic_record("restarted"),
        nic_record("stopped"),
        nic_record("gone"),
        nic_record("replaced"),
        nic_record("detaching", state="detaching"),
        nic_record("noiface"),
    ]
    containers = [
        ContainerView("adopt", "id1", True, 10, False),
        ContainerView("restarted", "id1", True, 99, False),
        ContainerView("stopped", "id1", False, 0, False),
        ContainerView("replaced", "id2", True, 5, True),
        ContainerView("detaching", "id1", True, 10, False),
        ContainerView("noiface", "id1", True, 10, False),
        ContainerView("labelled", "id9", True, 7, True),
        ContainerView("labelled-stopped", "id8", False, 0, True),
    ]
    present = {"adopt.lan0": True, "noiface.lan0": False}
    got = dict((key, action) for action, key in plan_reconcile(records, containers, present))
    assert got == {
        "adopt.lan0": Action.ADOPT,
        "restarted.lan0": Action.REPLUMB,
        "stopped.lan0": Action.PAUSE,
        "gone.lan0": Action.CLEANUP,
        "replaced.lan0": Action.CLEANUP,
        "replaced": Action.PLUMB,
        "noiface.lan0": Action.REPLUMB,
        "labelled": Action.PLUMB,
    }


def test_record_roundtrip_and_expiry() -> None:
    rec = nic_record("x")
    rec.obtained, rec.lease_time = 100.0, 120
    again = NicRecord.from_dict({**rec.to_dict(), "unknown_future_field": 1})
    assert again == rec and again.expires_at == 220.0


# --- the state machine: every production move goes through NicRecord.move ---------------

SRC = Path(__file__).resolve().parents[3] / "devbox"
RECORD_STATES = frozenset(TRANSITIONS)
HOLDS_A_LEASE = frozenset(
    {NicState.BOUND, NicState.RENEWING, NicState.REBINDING, NicState.UNBOUND, NicState.STOPPED}
)
# every move devbox makes: (module, target) -> the states a record may be in when it is made
PRODUCTION_MOVES: dict[tuple[str, NicState], frozenset[NicState]] = {
    # nic.apply_lease: a DHCP client event on a record that holds (or held) a lease
    ("services/nic.py", NicState.BOUND): HOLDS_A_LEASE,
    ("services/nic.py", NicState.UNBOUND): HOLDS_A_LEASE,
    # network.detach: whatever the record on disk says
    ("services/network.py", NicState.DETACHING): RECORD_STATES,
    # daemon: the container died, or is not running at a reconcile (never a detaching one)
    ("services/daemon_reconcile.py", NicState.STOPPED): RECORD_STATES - {NicState.DETACHING},
}


def _nic(state: NicState) -> NicRecord:
    return NicRecord("c", "id", "lan0", "p", "02:00:00:00:00:01", "dhcp", "c", "c", state=state)


def _moves_in_source() -> set[tuple[str, NicState]]:
    """(module, target) of every ``.move(NicState.X)`` in devbox; ``.state =`` anywhere but
    in the model is a failure."""
    found: set[tuple[str, NicState]] = set()
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[ast.expr] = []
            if isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
                targets = [node.target]
            for t in targets:
                for sub in ast.walk(t):
                    if isinstance(sub, ast.Attribute) and sub.attr == "state":
                        assert rel == "model/leases.py", f"{rel}:{node.lineno} sets .state"
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "move"
                and node.args
                and isinstance(arg := node.args[0], ast.Attribute)
                and isinstance(arg.value, ast.Name)
                and arg.value.id == "NicState"
            ):
                found.add((rel, NicState[arg.attr]))
    return found


def test_every_state_change_in_devbox_is_a_checked_move_listed_here() -> None:
    assert _moves_in_source() == set(PRODUCTION_MOVES)


@pytest.mark.parametrize(
    ("old", "new"),
    sorted((old, new) for (_, new), olds in PRODUCTION_MOVES.items() for old in olds),
)
def test_every_move_devbox_makes_is_allowed(old: NicState, new: NicState) -> None:
    rec = _nic(old)
    assert rec.move(new) is rec and rec.state is new


@pytest.mark.parametrize(
    ("old", "new"),
    sorted((o, n) for o in RECORD_STATES for n in NicState if not can_move(o, n)),
)
def test_a_move_the_table_forbids_fails_and_changes_nothing(old: NicState, new: NicState) -> None:
    rec = _nic(old)
    with pytest.raises(IllegalMove, match=f"c.lan0: .* from {old} to {new}") as info:
        rec.move(new)
    assert isinstance(info.value, DevboxError) and info.value.exit_code == ExitCode.INTERNAL
    assert rec.state is old


def test_detaching_is_final_and_seen_only_states_are_never_a_records() -> None:
    assert TRANSITIONS[NicState.DETACHING] == {NicState.DETACHING}
    assert SEEN_ONLY.isdisjoint(RECORD_STATES) and RECORD_STATES | SEEN_ONLY == set(NicState)
    assert not any(SEEN_ONLY & targets for targets in TRANSITIONS.values())
    for state in SEEN_ONLY:
        with pytest.raises(ValueError, match="not a state a record holds"):
            _nic(state)


def test_a_record_on_disk_keeps_its_plain_json_state() -> None:
    rec = NicRecord.from_dict({**_nic(NicState.BOUND).to_dict(), "state": "stopped"})
    assert rec.state is NicState.STOPPED
    data = rec.to_dict()
    assert type(data["state"]) is str and json.loads(json.dumps(data))["state"] == "stopped"
    with pytest.raises(ValueError):
        NicRecord.from_dict({**data, "state": "confused"})
