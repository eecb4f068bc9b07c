"""The unit tests mirror the source tree (issue 13): the test of ``devbox/a/b/c.py`` (or of the
package ``devbox/a/b/c/``) is ``tests/unit/a/b/test_c.py``, so a module's test is found without
searching and a test never outlives the module it names. Every folder of tests is a package
(an empty ``__init__.py``): two ``test_c.py`` in different folders must not clash."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "tests" / "unit"
SOURCE = REPO / "devbox"

# Tests about the whole tree rather than one module; they stay at tests/unit/ top level.
WHOLE_TREE = {
    "test_crash_handler.py",  # the catch-all of devbox.__main__ through every command
    "test_layering.py",  # the import graph: layers, service levels, module sizes
    "test_linters.py",  # ruff and mypy over devbox, tests and bench
    "test_net_files.py",  # data files under roles/ (systemd unit, net-wait script)
    "test_packaging.py",  # roles/ and templates/ inside the wheel
    "test_strict_skips.py",  # tests/skips.py: the allow-list of skips
    "test_tree_mirror.py",  # this file
    "test_validation.py",  # full-match validation of every setting and name, tree-wide
}
# Not mirrored yet: new files from work in flight; their owners move them (then drop the line).
NOT_YET: set[str] = set()


def mirror_misses(unit: Path, source: Path, exempt: set[str]) -> list[str]:
    """Test files under ``unit`` whose module is not in ``source`` (paths relative to
    ``unit``), leaving out the top-level files named in ``exempt``."""
    misses = []
    for test in sorted(unit.rglob("test_*.py")):
        rel = test.relative_to(unit)
        if len(rel.parts) == 1 and rel.name in exempt:
            continue
        folder = source.joinpath(*rel.parts[:-1])
        module = rel.name.removeprefix("test_").removesuffix(".py")
        if not ((folder / f"{module}.py").is_file() or (folder / module).is_dir()):
            misses.append(str(rel))
    return sorted(misses)


def packages_missing_init(unit: Path) -> list[str]:
    """Folders under ``unit`` that hold Python files but no ``__init__.py``."""
    folders = {p.parent for p in unit.rglob("*.py")} | {unit}
    return sorted(
        str(f.relative_to(unit.parent)) for f in folders if not (f / "__init__.py").is_file()
    )


def test_every_unit_test_names_an_existing_module() -> None:
    assert mirror_misses(UNIT, SOURCE, WHOLE_TREE | NOT_YET) == [], (
        "move each to tests/unit/<package>/test_<module>.py of the module it tests "
        "(or, if it is about the whole tree, list it in WHOLE_TREE)"
    )


def test_every_test_folder_is_a_package() -> None:
    assert packages_missing_init(UNIT) == []


def test_the_exempt_lists_name_real_files() -> None:
    stale = sorted(n for n in WHOLE_TREE | NOT_YET if not (UNIT / n).is_file())
    assert stale == [], "drop these from WHOLE_TREE / NOT_YET"


def test_a_test_of_a_missing_module_is_caught(tmp_path: Path) -> None:
    source, unit = tmp_path / "devbox", tmp_path / "unit"
    for f in ("model/leases.py", "adapters/net/dhcp.py", "config.py", "cli/__init__.py"):
        (source / f).parent.mkdir(parents=True, exist_ok=True)
        (source / f).touch()
    good = ["model/test_leases.py", "adapters/net/test_dhcp.py", "test_config.py", "test_cli.py"]
    bad = [
        "model/test_dhcp.py",  # a module of another package
        "adapters/test_dhcp.py",  # one folder too high
        "test_leases.py",  # not top-level infrastructure
        "state/test_leases.py",  # no such package
        "test_layering.py",  # whole-tree, but not listed here
        "test_netplan.py",  # a module that was renamed away
    ]
    for f in [*good, *bad]:
        (unit / f).parent.mkdir(parents=True, exist_ok=True)
        (unit / f).touch()
    assert mirror_misses(unit, source, set()) == sorted(bad)
    assert mirror_misses(unit, source, {"test_layering.py", "test_netplan.py"}) == sorted(bad[:4])


def test_a_folder_without_init_is_caught(tmp_path: Path) -> None:
    unit = tmp_path / "unit"
    (unit / "model").mkdir(parents=True)
    (unit / "__init__.py").touch()
    (unit / "model" / "test_leases.py").touch()
    assert packages_missing_init(unit) == ["unit/model"]
    (unit / "model" / "__init__.py").touch()
    assert packages_missing_init(unit) == []
