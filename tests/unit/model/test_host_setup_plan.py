"""The plan of ``devbox common setup``: only what is missing, nothing on a set-up host."""

from __future__ import annotations

from devbox.model import capacity
from devbox.model import host_setup_plan as hsp

UNIT = "[Unit]\nDescription=devbox\n"


def facts(**changes: object) -> hsp.HostFacts:
    base: dict[str, object] = {
        "installed": frozenset(hsp.APT_PACKAGES),
        "docker_answers": True,
        "sysctls": {capacity.SYSCTL: capacity.SUGGESTED_LIMIT},
        "groups": frozenset({"devbox", "devbox-admin"}),
        "unit_path": "/etc/systemd/system/devbox-daemon.service",
        "unit_text": UNIT,
    }
    base.update(changes)
    return hsp.HostFacts(**base)  # type: ignore[arg-type]


WANTED = hsp.Wanted(unit_text=UNIT)


def test_a_set_up_host_plans_nothing() -> None:
    plan = hsp.plan(facts(), WANTED)
    assert not plan.changes
    assert [t.step for t in plan.tasks()] == list(hsp.STEPS)
    assert all(not t.todo and t.done for t in plan.tasks())
    assert all(entry["todo"] == [] for entry in plan.to_json())


def test_a_fresh_host_plans_every_step() -> None:
    plan = hsp.plan(
        facts(
            installed=frozenset({"git", "python3"}),
            docker_answers=False,
            sysctls={capacity.SYSCTL: 128},
            groups=frozenset(),
            unit_text=None,
        ),
        WANTED,
    )
    assert plan.changes
    assert "docker.io" in plan.packages and "git" not in plan.packages
    assert plan.packages == tuple(p for p in hsp.APT_PACKAGES if p not in {"git", "python3"})
    assert plan.start_dockerd
    assert "after installing docker.io" in plan.task(hsp.DOCKERD).todo[0]
    assert plan.sysctls == {capacity.SYSCTL: capacity.SUGGESTED_LIMIT}
    assert "(now 128)" in plan.task(hsp.SYSCTL).todo[0]
    assert plan.groups == ("devbox", "devbox-admin")
    assert plan.write_unit and plan.task(hsp.UNIT).todo[0].startswith("write ")
    assert all(t.todo and not t.to_json()["done"] for t in plan.tasks())


def test_only_the_missing_parts_are_planned() -> None:
    plan = hsp.plan(facts(installed=frozenset(hsp.APT_PACKAGES) - {"patch"}), WANTED)
    assert plan.packages == ("patch",)
    assert [t.step for t in plan.tasks() if t.todo] == [hsp.PACKAGES]
    assert plan.task(hsp.PACKAGES).todo == ("apt-get install patch",)


def test_a_running_engine_is_never_started_again() -> None:
    plan = hsp.plan(facts(installed=frozenset()), WANTED)
    assert not plan.start_dockerd and not plan.task(hsp.DOCKERD).todo


def test_a_higher_sysctl_is_left_alone() -> None:
    plan = hsp.plan(facts(sysctls={capacity.SYSCTL: 8192}), WANTED)
    assert plan.sysctls == {} and not plan.changes


def test_the_configured_groups_are_the_ones_planned() -> None:
    wanted = hsp.Wanted(unit_text=UNIT, groups=("staff", "ops", "staff"))
    plan = hsp.plan(facts(groups=frozenset({"ops"})), wanted)
    assert plan.groups == ("staff",)


def test_a_changed_unit_is_rewritten() -> None:
    plan = hsp.plan(facts(unit_text="[Unit]\nDescription=old\n"), WANTED)
    assert plan.write_unit and plan.task(hsp.UNIT).todo[0].startswith("rewrite ")


def test_dpkg_status_counts_only_installed_packages() -> None:
    out = (
        "git\tinstall ok installed\n"
        "patch\tdeinstall ok config-files\n"
        "gcc:amd64\tinstall ok installed\n"
        "xfsprogs\tunknown ok not-installed\n"
    )
    assert hsp.parse_dpkg_status(out) == {"git", "gcc"}


def test_sysctl_file_names_each_value() -> None:
    text = hsp.sysctl_file_text({capacity.SYSCTL: 1024})
    assert f"{capacity.SYSCTL} = 1024\n" in text and text.startswith("#")


def test_the_package_list_is_the_one_install_deps_installs() -> None:
    import re
    from pathlib import Path

    script = (Path(__file__).resolve().parents[3] / "scripts" / "install-deps.sh").read_text()
    body = re.search(r"APT_PACKAGES=\((.*?)\n\)", script, re.DOTALL)
    assert body is not None
    names = [w for line in body.group(1).splitlines() for w in line.split("#")[0].split()]
    assert sorted(names) == sorted(hsp.APT_PACKAGES)
