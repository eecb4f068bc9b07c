"""services/host_setup.apply runs one step per part of the plan and does nothing for a part
the plan leaves alone (here: a hand-made plan with only the unit to write, into a temp dir:
no package, engine, sysctl or group of this host is touched)."""

from __future__ import annotations

from pathlib import Path

from devbox import config
from devbox.model import host_setup_plan as hsp
from devbox.services import daemon_control, host_setup


def test_only_the_planned_step_acts(tmp_path: Path) -> None:
    cfg = config.load(environ={"DEVBOX_ROOT": str(tmp_path / "root")}, files=())
    units = tmp_path / "units"
    plan = hsp.HostSetupPlan(
        packages=(),
        start_dockerd=False,
        sysctls={},
        sysctls_now={},
        groups=(),
        write_unit=True,
        unit_path=str(units / daemon_control.UNIT_NAME),
        unit_exists=False,
    )
    result, started = host_setup.apply(cfg, plan, units)
    assert not started
    assert (units / daemon_control.UNIT_NAME).read_text() == daemon_control.unit_text(cfg)
    assert list(result.durations) == list(hsp.STEPS)
    for step in hsp.STEPS[:-1]:
        assert result.notes[step].startswith("skipped: "), result.notes
    assert not result.notes.get(hsp.UNIT)
    log = (tmp_path / "root" / "logs" / "devbox.log").read_text()
    assert "== common setup: 5 steps" in log
