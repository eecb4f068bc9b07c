"""The docker SDK parameters for systemd as PID 1 (proven on the real engine in
tests/integration/test_images_boot.py)."""

from __future__ import annotations

from pathlib import Path

from devbox.vmstyle import systemd_run_kwargs


def test_systemd_run_kwargs() -> None:
    kw = systemd_run_kwargs("alice-main", "devbox/dev:latest", Path("/opt/containers/a/opt"),
                            {"devbox.role": "dockeruser"}, "none")
    assert kw["name"] == kw["hostname"] == "alice-main"
    assert kw["image"] == "devbox/dev:latest"
    assert kw["privileged"] is False
    assert "cap_add" not in kw
    assert kw["cgroupns"] == "host"
    assert kw["volumes"]["/sys/fs/cgroup"] == {"bind": "/sys/fs/cgroup", "mode": "rw"}
    assert kw["volumes"]["/opt/containers/a/opt"] == {"bind": "/opt", "mode": "rw"}
    assert set(kw["tmpfs"]) == {"/run", "/run/lock", "/tmp"}
    assert kw["stop_signal"] == "SIGRTMIN+3"
    assert kw["environment"]["container"] == "docker"
    assert kw["network_mode"] == "none"
    assert kw["restart_policy"] == {"Name": "unless-stopped"}
    assert kw["labels"] == {"devbox.role": "dockeruser"}
    assert kw["detach"] is True and kw["tty"] is True


def test_defaults_and_options() -> None:
    kw = systemd_run_kwargs(name="x", image="i", opt_dir=None, labels=None)
    assert "/opt" not in [v["bind"] for v in kw["volumes"].values()]
    assert kw["network_mode"] == "none"
    kw = systemd_run_kwargs("x", "i", None, None, network_mode=None, restart="",
                            hostname="h", environment={"TZ": "UTC"})
    assert "network_mode" not in kw and "restart_policy" not in kw
    assert kw["hostname"] == "h" and kw["environment"] == {"container": "docker", "TZ": "UTC"}
