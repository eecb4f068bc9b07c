"""Data files of the networking part: the daemon's systemd unit and the in-image net-wait."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from devbox import config
from devbox.resources import role_dir
from tests import skips

NETWAIT = role_dir("common") / "netwait"


def test_daemon_unit_renders() -> None:
    from devbox.services import daemon_control

    cfg = config.load(environ={"DEVBOX_ROOT": "/srv/dbx"}, files=())
    text = daemon_control.render_unit(
        cfg, ["/usr/bin/devbox", "--root", "/srv/dbx", "common", "daemon"]
    )
    assert "ExecStart=/usr/bin/devbox --root /srv/dbx common daemon" in text.splitlines()
    assert "Environment=DEVBOX_ROOT=/srv/dbx" in text.splitlines()
    assert "Requires=docker.service" in text and "WantedBy=multi-user.target" in text


def test_daemon_install_writes_unit(tmp_path: Path) -> None:
    from devbox.services import daemon_control

    cfg = config.load(environ={"DEVBOX_ROOT": str(tmp_path / "root")}, files=())
    path, started = daemon_control.install(cfg, tmp_path / "units")
    assert path == tmp_path / "units" / "devbox-daemon.service" and not started
    assert "common daemon" in path.read_text()


def test_netwait_files_exist_and_unit_orders_before_network_online_not_sshd() -> None:
    script = NETWAIT / "devbox-net-wait"
    unit = (NETWAIT / "devbox-net-wait.service").read_text()
    assert script.stat().st_mode & 0o111
    assert script.read_text().startswith("#!/bin/sh")
    before = next(ln for ln in unit.splitlines() if ln.startswith("Before="))
    # sshd listens on the wildcard address: it starts while DHCP runs, not after it
    assert before == "Before=network-online.target"
    assert "ExecStart=/usr/local/sbin/devbox-net-wait" in unit


@pytest.mark.parametrize("shell", ["sh", "busybox"])
def test_netwait_script_is_bounded(shell: str) -> None:
    """It gives up after its time-out (a count of checks, not a clock: TIMEOUT 0 is one check)
    with exit 1, and refuses a bad time-out with exit 2. ``timeout=30`` only guards a hang."""
    if not shutil.which(shell):
        skips.fail_with_fix(
            f"{shell} not installed", "apt-get install -y busybox-static (scripts/install-deps.sh)"
        )
    argv = [shell] + (["sh"] if shell == "busybox" else []) + [str(NETWAIT / "devbox-net-wait")]
    ok = subprocess.run([*argv, "lo", "2"], capture_output=True, text=True, timeout=30, check=False)
    assert ok.returncode == 0, ok.stderr
    assert "lo is up with an address" in ok.stdout
    for timeout in ("0", "1"):
        missing = subprocess.run(
            [*argv, "dbxnosuch0", timeout], capture_output=True, text=True, timeout=30, check=False
        )
        assert missing.returncode == 1, missing.stderr
        assert f"no address on dbxnosuch0 after {timeout}s" in missing.stderr
    bad = subprocess.run(
        [*argv, "lo", "soon"], capture_output=True, text=True, timeout=30, check=False
    )
    assert bad.returncode == 2
    assert bad.stderr.strip() == "devbox-net-wait: bad timeout 'soon'"
