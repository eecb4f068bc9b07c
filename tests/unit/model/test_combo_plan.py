"""Combo planning: stable names, patch ids, the product map, pruning (pure, no root)."""

from __future__ import annotations

import pytest

from devbox.errors import UserError
from devbox.model import combo_plan
from devbox.model.naming import validate_name


def test_name_is_stable_and_sorted() -> None:
    a = combo_plan.combo_name("acme", "5.2", ["1250", "1234"])
    b = combo_plan.combo_name("acme", "5.2", ["1234", "1250", "1234"])
    assert a == b == "acme-5-2-p1234-1250"


def test_numeric_patches_sort_by_number() -> None:
    assert (
        combo_plan.patches_label(["999", "1000", "fix-b", "fix-a", "0100"])
        == "100,999,1000,fix-a,fix-b"
    )


def test_name_without_patches() -> None:
    assert combo_plan.combo_name("ACME", "5.2", []) == "acme-5-2"


def test_long_combo_gets_hash_and_stays_valid() -> None:
    patches = [str(100000 + i) for i in range(20)]
    name = combo_plan.combo_name("acme", "5.2", patches)
    assert len(name) <= 63
    validate_name(name)
    other = combo_plan.combo_name("acme", "5.2", [*patches[:-1], "999999"])
    assert other != name and len(other) <= 63
    assert name == combo_plan.combo_name("acme", "5.2", list(reversed(patches)))


@pytest.mark.parametrize("bad", ["", "../x", "-x", "a/b", "a b", "x;y", "$(id)"])
def test_bad_patch_ids(bad: str) -> None:
    with pytest.raises(UserError):
        combo_plan.parse_patch(bad)


@pytest.mark.parametrize(
    ("product", "release"), [("", "5.2"), ("acme", ""), ("a b", "1"), ("acme", "5;2"), ("-x", "1")]
)
def test_bad_product_or_release(product: str, release: str) -> None:
    with pytest.raises(UserError):
        combo_plan.combo_name(product, release, [])


def test_patch_kinds() -> None:
    assert combo_plan.parse_patch("0042").is_change
    assert combo_plan.parse_patch("0042").change == 42
    assert not combo_plan.parse_patch("fix-crash").is_change
    with pytest.raises(UserError):
        combo_plan.parse_patch("0")


PRODUCTS = """
[[product]]
name = "acme"
release = "5.2"
image = "devbox/dev:5.2"
branch = "release/5.2"

[[product]]
name = "acme"
release = "5.*"
image = "devbox/dev:{release}"
branch = "release/{release}"

[[product]]
name = "widget"
release = "1"
image = "devbox/widget:1"
branch = "main"
"""


def test_products_exact_then_glob() -> None:
    rels = combo_plan.parse_products(PRODUCTS)
    exact = combo_plan.resolve_release(rels, "acme", "5.2")
    assert (exact.image, exact.branch) == ("devbox/dev:5.2", "release/5.2")
    globbed = combo_plan.resolve_release(rels, "acme", "5.3")
    assert (globbed.image, globbed.branch) == ("devbox/dev:5.3", "release/5.3")


def test_unknown_product_and_release() -> None:
    rels = combo_plan.parse_products(PRODUCTS)
    with pytest.raises(UserError) as info:
        combo_plan.resolve_release(rels, "nope", "1")
    assert "acme" in (info.value.hint or "")
    with pytest.raises(UserError):
        combo_plan.resolve_release(rels, "widget", "2")


@pytest.mark.parametrize("text", ["[[product]]\nname='x'\n", "product = 3\n", "not toml ["])
def test_bad_products_file(text: str) -> None:
    with pytest.raises(UserError):
        combo_plan.parse_products(text)


def test_shipped_products_file_parses() -> None:
    from devbox.services.combos import load_releases

    rels = load_releases()
    assert combo_plan.resolve_release(rels, "acme", "5.2").branch == "release/5.2"


def test_parse_docker_time() -> None:
    t = combo_plan.parse_docker_time("2026-11-23T03:50:24.5Z")
    assert t == pytest.approx(1795405824.5)
    assert combo_plan.parse_docker_time("0001-01-01T00:00:00Z") is None
    assert combo_plan.parse_docker_time("2026-11-23T04:50:24+01:00") == pytest.approx(1795405824.0)
    assert combo_plan.parse_docker_time("garbage") is None


def _st(
    name: str, running: bool, started: str, finished: str, created: str = "2026-01-01T00:00:00Z"
) -> combo_plan.ComboState:
    return combo_plan.ComboState(name, running, created, started, finished)


def test_stale_combos() -> None:
    now = combo_plan.parse_docker_time("2026-11-23T00:00:00Z") or 0.0
    day = 86400.0
    states = [
        _st("old-stopped", False, "2026-09-01T00:00:00Z", "2026-09-02T00:00:00Z"),
        _st("recent-stop", False, "2026-09-01T00:00:00Z", "2026-11-20T00:00:00Z"),
        _st("running-old", True, "2026-01-01T00:00:00Z", "0001-01-01T00:00:00Z"),
        _st(
            "never-started",
            False,
            "0001-01-01T00:00:00Z",
            "0001-01-01T00:00:00Z",
            created="2026-10-01T00:00:00Z",
        ),
        _st(
            "never-started-new",
            False,
            "0001-01-01T00:00:00Z",
            "0001-01-01T00:00:00Z",
            created="2026-11-22T00:00:00Z",
        ),
    ]
    assert combo_plan.stale_combos(states, now, 30 * day) == ["never-started", "old-stopped"]
    assert combo_plan.stale_combos(states, now, 1 * day) == [
        "never-started",
        "never-started-new",
        "old-stopped",
        "recent-stop",
    ]


def test_apply_step_unshelves_changelists_and_stops_on_conflicts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    from devbox import config
    from devbox.adapters.p4 import ApplyResult
    from devbox.errors import OperationFailed
    from devbox.oplog import OpLog
    from devbox.services import checkout, combos
    from devbox.steps import run_steps

    calls: list[list[int]] = []

    def fake_apply(cfg: object, name: str, changes: list[int], **kw: object) -> list[ApplyResult]:
        calls.append(list(changes))
        return [ApplyResult(c, 2, ("//depot/main/a.c",) if c == 1250 else ()) for c in changes]

    monkeypatch.setattr(checkout, "apply_changes", fake_apply)
    cfg = config.load(environ={"DEVBOX_ROOT": str(tmp_path)}, files=())
    ok = combos._apply_step(cfg, "acme-5-2-p1234", combo_plan.sorted_patches(["1234"]), {})
    result = run_steps("combo", [ok], OpLog(None))
    assert calls == [[1234]] and "1234" in result.notes["apply patches"]
    bad = combos._apply_step(cfg, "x", combo_plan.sorted_patches(["1250", "1234"]), {})
    from devbox.errors import StepFailed

    with pytest.raises(StepFailed, match="1250") as info:
        run_steps("combo", [bad], OpLog(None))
    assert isinstance(info.value.__cause__, OperationFailed)
    assert calls[-1] == [1234, 1250]
