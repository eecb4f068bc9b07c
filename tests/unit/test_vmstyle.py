"""The docker SDK parameters for systemd as PID 1 (proven on the real engine in
tests/integration/test_images_boot.py)."""

from __future__ import annotations

from pathlib import Path

from devbox.vmstyle import hosts_file, resolv_conf, systemd_run_kwargs


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
    assert kw["network_disabled"] is True  # devbox plumbs the LAN: no libnetwork sandbox
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
    assert "network_disabled" not in kw
    assert "network_disabled" not in systemd_run_kwargs("x", "i", None, None, "bridge")
    assert kw["hostname"] == "h" and kw["environment"] == {"container": "docker", "TZ": "UTC"}


def test_hosts_file_names_the_container() -> None:
    text = hosts_file("alice-main")
    assert "127.0.0.1\tlocalhost\n" in text and "127.0.1.1\talice-main\n" in text


def test_resolv_conf_drops_loopback_name_servers() -> None:
    host = ("# generated\nsearch corp.example\nnameserver 127.0.0.53\nnameserver 10.1.2.3\n"
            "nameserver ::1\nnameserver fe80::1%eth0\noptions edns0\n")
    got = resolv_conf(host)
    assert "127.0.0.53" not in got and "::1\n" not in got
    assert "nameserver 10.1.2.3\n" in got and "nameserver fe80::1%eth0\n" in got
    assert "search corp.example\n" in got and "options edns0\n" in got
    assert resolv_conf("") == "\n"
